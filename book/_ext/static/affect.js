// affect_lib book: small fixes on top of sphinx-book-theme 1.3.0 / pydata-sphinx-theme 0.17.1.
(function () {
  "use strict";

  // Both themes bind their sidebar listeners to the FIRST .primary-toggle / .secondary-toggle, which sits in the
  // (hidden) pydata header; the buttons a reader sees are later duplicates. Forward their clicks.
  function forwardToggles() {
    for (const kind of ["primary", "secondary"]) {
      const buttons = Array.from(document.querySelectorAll("." + kind + "-toggle"));
      const bound = buttons[0];
      for (const button of buttons.slice(1)) {
        button.addEventListener("click", (event) => {
          event.preventDefault();
          event.stopImmediatePropagation();
          bound.click();
        }, true);
      }
    }
  }

  // An equation wider than the column (display) or than the text (inline) is scaled down to fit, never below 65%.
  function fitEquations() {
    const text = document.querySelector("article") || document.body;
    for (const box of document.querySelectorAll("mjx-container")) {
      box.style.fontSize = "";
      const display = box.getAttribute("display") === "true";
      const avail = display ? box.clientWidth : text.clientWidth - 32;
      const need = display ? box.scrollWidth : box.getBoundingClientRect().width;
      if (avail > 0 && need > avail) box.style.fontSize = Math.max(0.65, (avail - 2) / need) * 100 + "%";
    }
  }

  // Click a figure to see it at its full resolution; click again or press Escape to close.
  function zoomable() {
    for (const img of document.querySelectorAll(".cell_output img, figure img")) {
      if (img.closest("a, .affect-interactive")) continue;
      img.addEventListener("click", () => {
        const overlay = document.createElement("div");
        overlay.className = "affect-zoom";
        const big = document.createElement("img");
        big.src = img.currentSrc || img.src;
        big.alt = img.alt;
        big.style.width = Math.min(img.naturalWidth, Math.max(window.innerWidth - 32, img.width)) + "px";
        overlay.appendChild(big);
        const close = () => { overlay.remove(); document.removeEventListener("keydown", onKey); };
        const onKey = (e) => { if (e.key === "Escape") close(); };
        overlay.addEventListener("click", close);
        document.addEventListener("keydown", onKey);
        document.body.appendChild(overlay);
      });
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    forwardToggles();
    zoomable();
    const mathReady = () => window.MathJax && MathJax.startup && MathJax.startup.promise;
    const whenMath = (tries) => {
      if (mathReady()) MathJax.startup.promise.then(fitEquations);
      else if (tries > 0) setTimeout(() => whenMath(tries - 1), 100);
    };
    whenMath(100);
    let pending = null;
    window.addEventListener("resize", () => { clearTimeout(pending); pending = setTimeout(fitEquations, 150); });
  });
})();
