/*
 * Baylight signature pad: a customer at the desk signs with a finger, a pen or
 * the mouse; the drawing is uploaded as a PNG.
 *
 *   var pad = Baylight.signature.create({
 *     labels: {hint, clear, save, empty, saving, failed ("… {detail}")},
 *     path: "/api/v1/orders/7/extra-work/1/signature",   // PUT, answers 201 {url}
 *     width: 480, height: 180,                            // drawing size in CSS pixels
 *     onSaved: function (url) {}
 *   });
 *   container.appendChild(pad.element);
 *   pad.isEmpty(); pad.clear(); pad.save();
 *
 * Pointer events where the browser has them (mouse, touch and pen alike),
 * else touch and mouse events. The canvas may be shown smaller than it is
 * drawn (CSS max-width): points are scaled by its on-screen size. The upload
 * is the PNG itself (image/png); a browser without canvas.toBlob sends
 * {"image": base64} instead. The page's CSRF token and an Idempotency-Key go
 * with it (page.js request()). Loaded after page.js.
 * Written for old browsers too: no modules, no optional chaining.
 */
(function (global) {
  "use strict";
  var B = global.Baylight = global.Baylight || {};
  var page = B.page;

  function create(options) {
    var labels = options.labels || {};
    var width = options.width || 480;
    var height = options.height || 180;
    var ratio = Math.max(1, Math.min(3, global.devicePixelRatio || 1));

    var element = page.el("div", "signature-pad");
    var canvas = page.el("canvas", "signature-canvas");
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    // No page scrolling or zooming while a finger draws (CSSOM: the CSP
    // allows no inline style attributes).
    canvas.style.touchAction = "none";
    canvas.style.msTouchAction = "none";
    element.appendChild(canvas);
    if (labels.hint) element.appendChild(page.el("p", "signature-hint", labels.hint));
    var buttons = page.el("div", "signature-buttons");
    var clearButton = page.el("button", "signature-clear", labels.clear || "Clear");
    clearButton.type = "button";
    var saveButton = page.el("button", "signature-save primary", labels.save || "Save");
    saveButton.type = "button";
    buttons.appendChild(clearButton);
    buttons.appendChild(saveButton);
    element.appendChild(buttons);
    var message = page.el("p", "signature-message");
    message.setAttribute("role", "status");
    message.hidden = true;
    element.appendChild(message);

    var context = canvas.getContext("2d");
    var inked = false;
    var drawing = null;       // the pointer (or "touch"/"mouse") drawing now
    var last = null;
    var key = null;           // Idempotency-Key of this drawing's upload

    function blank() {
      context.setTransform(1, 0, 0, 1, 0, 0);
      context.fillStyle = "#fff";
      context.fillRect(0, 0, canvas.width, canvas.height);
      context.strokeStyle = "#111827";
      context.lineWidth = 2.5 * ratio;
      context.lineCap = "round";
      context.lineJoin = "round";
      inked = false;
      key = null;
      canvas.className = "signature-canvas";
    }

    /* A client position as a point on the drawing (it may be shown scaled). */
    function point(clientX, clientY) {
      var box = canvas.getBoundingClientRect();
      return {
        x: (clientX - box.left) * (canvas.width / (box.width || 1)),
        y: (clientY - box.top) * (canvas.height / (box.height || 1))
      };
    }

    function begin(who, clientX, clientY) {
      drawing = who;
      last = point(clientX, clientY);
      // A dot for a tap: a signature may be one.
      context.beginPath();
      context.arc(last.x, last.y, context.lineWidth / 2, 0, Math.PI * 2);
      context.fillStyle = context.strokeStyle;
      context.fill();
      mark();
    }

    function extend(who, clientX, clientY) {
      if (drawing === null || drawing !== who) return;
      var next = point(clientX, clientY);
      context.beginPath();
      context.moveTo(last.x, last.y);
      context.lineTo(next.x, next.y);
      context.stroke();
      last = next;
      mark();
    }

    function end(who) {
      if (drawing === who) drawing = null;
    }

    function mark() {
      if (!inked) canvas.className = "signature-canvas inked";
      inked = true;
      key = null;                 // another drawing is another upload
      page.show(message, "");
    }

    if (global.PointerEvent) {
      canvas.addEventListener("pointerdown", function (event) {
        if (event.button !== undefined && event.button > 0) return;
        event.preventDefault();
        if (canvas.setPointerCapture) {
          try { canvas.setPointerCapture(event.pointerId); } catch (gone) { /* already released */ }
        }
        begin(event.pointerId, event.clientX, event.clientY);
      });
      canvas.addEventListener("pointermove", function (event) {
        if (drawing === null) return;
        event.preventDefault();
        // Every point the device reported since the last frame, where the browser keeps them.
        var points = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
        if (!points.length) points = [event];
        for (var i = 0; i < points.length; i += 1) extend(event.pointerId, points[i].clientX, points[i].clientY);
      });
      ["pointerup", "pointercancel", "lostpointercapture"].forEach(function (type) {
        canvas.addEventListener(type, function (event) { end(event.pointerId); });
      });
    } else {
      canvas.addEventListener("touchstart", function (event) {
        event.preventDefault();
        var touch = event.changedTouches[0];
        begin("touch", touch.clientX, touch.clientY);
      });
      canvas.addEventListener("touchmove", function (event) {
        event.preventDefault();
        var touch = event.changedTouches[0];
        extend("touch", touch.clientX, touch.clientY);
      });
      canvas.addEventListener("touchend", function () { end("touch"); });
      canvas.addEventListener("touchcancel", function () { end("touch"); });
      canvas.addEventListener("mousedown", function (event) { begin("mouse", event.clientX, event.clientY); });
      global.addEventListener("mousemove", function (event) { extend("mouse", event.clientX, event.clientY); });
      global.addEventListener("mouseup", function () { end("mouse"); });
    }

    /* The drawing as the request's body: the PNG, or base64 JSON. */
    function body(done) {
      if (canvas.toBlob) {
        canvas.toBlob(function (blob) { done(blob ? { raw: blob, contentType: "image/png" } : base64()); }, "image/png");
      } else {
        done(base64());
      }
    }

    function base64() {
      var url = canvas.toDataURL("image/png");
      return { body: { image: url.slice(url.indexOf(",") + 1) } };
    }

    function save() {
      if (!inked) {
        page.show(message, labels.empty || "");
        return Promise.resolve(null);
      }
      saveButton.disabled = true;
      clearButton.disabled = true;
      page.show(message, labels.saving || "");
      if (!key) key = page.newKey();
      return new Promise(function (resolve) {
        body(function (payload) {
          var sent = { csrf: true, key: key, raw: payload.raw, contentType: payload.contentType, body: payload.body };
          page.request("PUT", options.path, sent).then(function (reply) {
            saveButton.disabled = false;
            clearButton.disabled = false;
            if (reply.status === 200 || reply.status === 201) {
              page.show(message, "");
              var url = reply.data && reply.data.url;
              if (options.onSaved) options.onSaved(url);
              resolve(url);
              return;
            }
            // A refusal is bound to its key: a corrected try is a new request.
            if (reply.status >= 400 && reply.status < 500) key = null;
            page.show(message, B.fill(labels.failed || "{detail}", { detail: page.problem(reply) }));
            resolve(null);
          }, function () {
            saveButton.disabled = false;
            clearButton.disabled = false;
            page.show(message, B.fill(labels.failed || "{detail}", { detail: "network" }));
            resolve(null);
          });
        });
      });
    }

    clearButton.addEventListener("click", function () { blank(); page.show(message, ""); });
    saveButton.addEventListener("click", function () { save(); });
    blank();

    return {
      element: element,
      canvas: canvas,
      isEmpty: function () { return !inked; },
      clear: blank,
      save: save
    };
  }

  B.signature = { create: create };
})(window);
