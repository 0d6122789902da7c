/* Administration: the shop's appointment settings (/admin/shop) and a
   technician's leave days (/admin/staff), each saved through the REST API
   (PATCH /api/v1/shop `appointments`, PATCH /api/v1/staff/{id} `leave`) with
   the page's CSRF token and the version the page was drawn with, so the
   API's own checks and refusals apply. After a save the page is drawn again
   (the new version for the page's other forms). A refusal is shown in the
   server's words (problem+json, in the page's language). */
(function (B) {
  "use strict";
  var page = B.page;
  var $ = page.byId;

  function words() {
    var node = $("appointments-strings") || $("leave-strings");
    return node ? JSON.parse(node.textContent) : {};
  }
  var text = words();

  function say(node, message) { page.show(node, message); }
  /* The refusal's own sentence (it names the field in the page's words). */
  function refusal(reply) {
    if (reply.status === 409) return text.stale;
    var data = reply.data || {};
    var detail = data.detail || data.title || String(reply.status);
    return String(text.error || "{detail}").replace("{detail}", detail);
  }

  function number(id) { return Number($(id).value); }

  /* ------------------------------------------------------------ shop */

  var settings = $("appointments-form");
  if (settings) {
    settings.addEventListener("submit", function (event) {
      event.preventDefault();
      var message = $("appointments-message");
      say(message, "");
      var body = {
        version: Number(settings.dataset.version),
        appointments: {
          walk_in_share: Math.round(number("appt-walk-in")) / 100,
          cars_per_advisor_per_slot: number("appt-per-advisor"),
          grace_minutes: number("appt-grace"),
          lead_minutes: number("appt-lead"),
          days_ahead: number("appt-days"),
          online_booking: $("appt-online").checked,
          phone_verification: $("appt-phone-check").checked,
          board_arrivals: $("appt-board").checked
        }
      };
      $("save-appointments").disabled = true;
      page.request("PATCH", "/api/v1/shop", { body: body, csrf: true, key: page.newKey() }).then(function (reply) {
        $("save-appointments").disabled = false;
        if (reply.status === 200) {
          window.location.href = "/admin/shop?done=appointments#appointments";
          return;
        }
        if (reply.status === 409) {
          // The page is drawn again with the profile as it is now.
          say(message, text.stale);
          settings.dataset.version = (reply.data.shop && reply.data.shop.version) || settings.dataset.version;
          return;
        }
        say(message, refusal(reply));
      }, function () {
        $("save-appointments").disabled = false;
        say(message, refusal({ status: 0, data: { detail: "network" } }));
      });
    });
  }

  /* ------------------------------------------------------------ leave days */

  var leave = $("leave-form");
  if (leave) {
    var list = $("leave-days");

    function days() {
      return Array.prototype.map.call(list.querySelectorAll("li[data-day]"), function (li) {
        return li.dataset.day;
      });
    }

    function dayItem(day) {
      var li = page.el("li", "leave-day");
      li.dataset.day = day;
      li.appendChild(page.el("span", "", day));
      var remove = page.el("button", "remove-day", text.remove);
      remove.type = "button";
      remove.setAttribute("aria-label", String(text.remove_day || "").replace("{day}", day));
      remove.addEventListener("click", function () { li.parentNode.removeChild(li); });
      li.appendChild(remove);
      return li;
    }

    function draw(list2) {
      page.clear(list);
      list2.slice().sort().forEach(function (day) { list.appendChild(dayItem(day)); });
      $("leave-none").hidden = list2.length > 0;
    }

    draw(JSON.parse(leave.dataset.leave || "[]"));

    $("leave-add").addEventListener("click", function () {
      var day = $("leave-day").value;
      if (!day) return;
      var known = days();
      if (known.indexOf(day) < 0) known.push(day);
      draw(known);
      $("leave-day").value = "";
    });

    leave.addEventListener("submit", function (event) {
      event.preventDefault();
      var message = $("leave-message");
      say(message, "");
      var body = { version: leave.dataset.version, leave: days() };
      $("leave-save").disabled = true;
      page.request("PATCH", "/api/v1/staff/" + leave.dataset.staffId, { body: body, csrf: true, key: page.newKey() }).then(function (reply) {
        $("leave-save").disabled = false;
        if (reply.status === 200) {
          window.location.href = "/admin/staff/" + leave.dataset.staffId + "?done=leave";
          return;
        }
        say(message, refusal(reply));
      }, function () {
        $("leave-save").disabled = false;
        say(message, refusal({ status: 0, data: { detail: "network" } }));
      });
    });
  }
})(window.Baylight);
