// The impact explorer's one-hop expansion: a node's next hop is fetched when its <details> opens.
"use strict";
(function () {
  async function load(details) {
    if (details.dataset.loaded) return;
    details.dataset.loaded = "1";
    const kids = details.querySelector(".kids");
    kids.textContent = "Loading…";
    const r = await fetch("/impact/hop?node=" + encodeURIComponent(details.dataset.node), { credentials: "same-origin" });
    kids.innerHTML = await r.text();
  }
  async function more(link) {
    const r = await fetch(link.getAttribute("href"), { credentials: "same-origin" });
    const holder = document.createElement("div");
    holder.innerHTML = await r.text();
    const list = link.closest("ul");
    const li = link.closest("li");
    const first = holder.querySelector("ul.hop");
    if (first) {
      const items = Array.from(first.children);
      items.forEach((item) => list.insertBefore(item, li));
      li.remove();
      const next = items[0] && items[0].querySelector("summary, a");
      if (next) next.focus();
    }
  }
  async function bom(details) {
    if (details.dataset.loaded) return;
    details.dataset.loaded = "1";
    const kids = details.querySelector(".kids");
    kids.textContent = "Loading…";
    const r = await fetch("/impact/bom?fragment=true&model=" + encodeURIComponent(details.dataset.bom), { credentials: "same-origin" });
    kids.innerHTML = await r.text();
  }
  document.addEventListener("toggle", (e) => {
    const d = e.target;
    if (d.matches && d.matches("details[data-node]") && d.open) load(d);
    if (d.matches && d.matches("details[data-bom]") && d.open) bom(d);
  }, true);
  document.addEventListener("click", (e) => {
    const a = e.target.closest && e.target.closest("a[data-more]");
    if (a) { e.preventDefault(); more(a); }
  });
})();
