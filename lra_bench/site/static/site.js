// lra-bench site: sort any table marked data-sortable by a column, and filter the leaderboard rows.
// The tables are complete in the HTML; this script only reorders and hides rows.
(function () {
  "use strict";

  function sortValue(cell, type) {
    var raw = cell ? cell.getAttribute("data-sort") : null;
    if (raw === null) { raw = cell ? cell.textContent.trim() : ""; }
    if (raw === "") { return null; }
    if (type === "number") {
      var n = parseFloat(raw);
      return isNaN(n) ? null : n;
    }
    return raw.toLowerCase();
  }

  function sortTable(table, index, type, header) {
    var body = table.tBodies[0];
    var descending = header.getAttribute("aria-sort") === "ascending";
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = sortValue(a.cells[index], type), y = sortValue(b.cells[index], type);
      if (x === null && y === null) { return 0; }
      if (x === null) { return 1; }   // rows without a value stay last either way
      if (y === null) { return -1; }
      var order = x < y ? -1 : (x > y ? 1 : 0);
      return descending ? -order : order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) { th.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }

  Array.prototype.forEach.call(document.querySelectorAll("table[data-sortable]"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      var button = th.querySelector("button.sort");
      if (!button) { return; }
      var type = th.getAttribute("data-type") === "number" ? "number" : "text";
      button.addEventListener("click", function () { sortTable(table, index, type, th); });
    });
  });

  var form = document.getElementById("filters");
  if (!form) { return; }
  form.hidden = false;

  function checked(kind) {
    return Array.prototype.filter.call(form.querySelectorAll('input[data-filter="' + kind + '"]'),
      function (box) { return box.checked; }).map(function (box) { return box.value; });
  }

  function applyFilters() {
    var origins = checked("origin"), groups = checked("group");
    var wantForm = form.querySelector('[data-filter="form"]').value;
    var wantStatus = form.querySelector('[data-filter="status"]').value;
    var shown = 0, total = 0;
    Array.prototype.forEach.call(document.querySelectorAll("table.leaderboard tbody tr"), function (row) {
      var forms = (row.getAttribute("data-forms") || "").split(" ");
      var statuses = (row.getAttribute("data-statuses") || "").split(" ");
      var visible = origins.indexOf(row.getAttribute("data-origin")) >= 0 &&
        groups.indexOf(row.getAttribute("data-group")) >= 0 &&
        (!wantForm || forms.indexOf(wantForm) >= 0) &&
        (!wantStatus || statuses.indexOf(wantStatus) >= 0);
      row.hidden = !visible;
      total += 1;
      shown += visible ? 1 : 0;
    });
    form.querySelector(".filter-count").textContent = shown + " of " + total + " rows shown";
  }

  form.addEventListener("change", applyFilters);
  applyFilters();
}());
