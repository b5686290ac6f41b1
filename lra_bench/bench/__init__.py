"""Speed and memory of the attention variants against softmax: one layer over lengths (`layer`), the
GPU speed targets (`speed_check`), whole training steps (`model_step`), recurrent decoding (`decode`),
the timing they share: blocks, softmax and a variant interleaved, median/IQR (`timing`),
and the `lra-bench bench` command line over them (`command`)."""
