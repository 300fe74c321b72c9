// features: the remembered colour theme, applied before the page paints (no flash of light).
(function () {
  "use strict";
  var theme = null;
  try { theme = window.localStorage.getItem("theme"); } catch (e) { /* storage disabled */ }
  if (theme === "dark" || theme === "light") document.documentElement.dataset.theme = theme;
})();
