/* Technician kiosk: pairing first; the job screens arrive with the kiosk issue. */
(function (B) {
  "use strict";
  B.pair("kiosk").then(function () {
    document.getElementById("live").hidden = false;
  });
})(window.Baylight);
