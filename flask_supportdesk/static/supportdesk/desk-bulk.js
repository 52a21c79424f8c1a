// The desk list's bulk selection: "select all on this page" and a live count. Without
// JavaScript the checkboxes and the bulk form still work; this only adds convenience.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("sd-bulk");
    if (!form) { return; }
    var all = document.querySelector("[data-sd-bulk-all]");
    var count = form.querySelector("[data-sd-bulk-count]");
    var boxes = Array.prototype.slice.call(
      document.querySelectorAll('input[type=checkbox][name=ticket][form="sd-bulk"]'));
    function update() {
      var selected = boxes.filter(function (box) { return box.checked; }).length;
      count.textContent = selected
        ? window.SupportDesk.ngettext("%(num)s selected", "%(num)s selected", selected) : "";
      if (all) {
        all.checked = selected > 0 && selected === boxes.length;
        all.indeterminate = selected > 0 && selected < boxes.length;
      }
    }
    boxes.forEach(function (box) { box.addEventListener("change", update); });
    if (all && boxes.length) {
      all.hidden = false;
      all.addEventListener("change", function () {
        boxes.forEach(function (box) { box.checked = all.checked; });
        update();
      });
    }
    update();
  });
}());
