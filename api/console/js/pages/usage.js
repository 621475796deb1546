// Placeholder until the page is written.

import { h } from "../dom.js";

export default {
  path: "usage",
  title: "nav.usage",
  scope: "tenant:admin",
  async render(root) {
    root.append(h("p", {}, "…"));
  },
};
