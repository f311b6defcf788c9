// The API's interactive page (/api/v1/docs): Swagger UI over the OpenAPI document. A file of its
// own because the content security policy allows no inline script.
window.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({ url: root.dataset.specUrl, dom_id: "#swagger-ui", deepLinking: true });
});
