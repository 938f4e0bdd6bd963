// Concord's small amount of JavaScript; the review page adds its keyboard handling.
document.addEventListener("htmx:responseError", (event) => {
  const status = event.detail.xhr.status;
  const box = document.querySelector(".messages") || document.querySelector("main").insertAdjacentElement(
    "afterbegin", Object.assign(document.createElement("ul"), { className: "messages" }));
  const item = document.createElement("li");
  item.className = "message error";
  item.textContent = status === 503
    ? "The database is unavailable; nothing was saved. Try again in a moment."
    : `The server answered ${status}; nothing was saved. Try again.`;
  box.appendChild(item);
});
