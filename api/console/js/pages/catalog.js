// Placeholder until the page is written.

import { h } from "../dom.js";

export default {
  path: "catalog",
  title: "nav.catalog",
  scope: "tenant:admin",
  async render(root) {
    root.append(h("p", {}, "…"));
  },
};
