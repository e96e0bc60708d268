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

  // Claims tables (claim | paper | this book | verdict) stack on phones, verdict first (affect.css): each cell is
  // labelled with its column's header, which the stacked layout shows.
  function labelClaims() {
    for (const table of document.querySelectorAll("article table")) {
      const head = table.tHead && table.tHead.rows[0];
      if (!head || head.cells.length !== 4 || !/^\s*claim\s*$/i.test(head.cells[0].textContent)) continue;
      table.classList.add("affect-claims");
      const labels = Array.from(head.cells, (cell) => cell.textContent.trim().replace(/([^?:])$/, "$1:"));  // "claim:", "agrees?"
      for (const body of table.tBodies) {
        for (const row of body.rows) {
          Array.from(row.cells).forEach((cell, i) => cell.setAttribute("data-label", labels[i] || ""));
        }
      }
    }
  }

  // A table wider than its scrolling box gets a hint line above the box: phones hide scroll bars, and nothing
  // else would tell a reader that the last columns are off-screen.
  function cueScrolls() {
    for (const table of document.querySelectorAll("article table")) {
      let box = table.parentElement;
      while (box && box.tagName !== "ARTICLE" && !["auto", "scroll"].includes(getComputedStyle(box).overflowX)) {
        box = box.parentElement;
      }
      if (!box || box.tagName === "ARTICLE") continue;
      const wide = box.scrollWidth > box.clientWidth + 1;
      let hint = box.previousElementSibling;
      if (!(hint && hint.classList.contains("affect-scroll-hint"))) {
        if (!wide) continue;
        hint = document.createElement("div");
        hint.className = "affect-scroll-hint";
        hint.textContent = "Wider than the screen: scroll the table sideways for every column \u2192";
        box.before(hint);
      }
      hint.hidden = !wide;
      box.classList.toggle("affect-scrolls", wide);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    forwardToggles();
    zoomable();
    labelClaims();
    cueScrolls();
    const mathReady = () => window.MathJax && MathJax.startup && MathJax.startup.promise;
    const whenMath = (tries) => {
      if (mathReady()) MathJax.startup.promise.then(() => { fitEquations(); cueScrolls(); });
      else if (tries > 0) setTimeout(() => whenMath(tries - 1), 100);
    };
    whenMath(100);
    let pending = null;
    window.addEventListener("resize", () => {
      clearTimeout(pending);
      pending = setTimeout(() => { fitEquations(); cueScrolls(); }, 150);
    });
  });
})();
