// The book's additions (loaded by book/_ext/cgnb_book.py): every figure a cell outputs opens its
// full-size PNG when clicked.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("div.cell_output img").forEach((img) => {
    if (img.closest("a")) return;
    const link = document.createElement("a");
    link.href = img.getAttribute("src");
    link.className = "cgnb-figure-link";
    link.title = "Open the figure at full size";
    img.parentNode.insertBefore(link, img);
    link.appendChild(img);
  });
});

// A link to a check on the claims page opens the <details> that holds it.
function cgnbOpenTarget() {
  const id = decodeURIComponent(window.location.hash.slice(1));
  const target = id && document.getElementById(id);
  if (!target) return;
  for (let node = target.parentElement; node; node = node.parentElement) {
    if (node.tagName === "DETAILS") node.open = true;
  }
  target.scrollIntoView();
}
document.addEventListener("DOMContentLoaded", cgnbOpenTarget);
window.addEventListener("hashchange", cgnbOpenTarget);

// A chapter's findings box is a Markdown table (glued from the ledger) whose first column is "claim":
// it gets the claims page's classes, and every cell the name of its column, so that on a narrow screen
// each claim becomes a card of labelled lines (cgnb.css) instead of six squeezed columns.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("article table.table").forEach((table) => {
    const names = Array.from(table.querySelectorAll("thead th"), (th) => th.textContent.trim());
    if (names[0] !== "claim") return;
    table.classList.add("cgnb-claims", "cgnb-findings-box");
    table.querySelectorAll("tbody tr").forEach((row) => {
      Array.from(row.children).forEach((cell, i) => {
        if (names[i]) cell.dataset.label = names[i];
      });
    });
  });
});
