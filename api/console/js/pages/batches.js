// Placeholder until the page is written.

import { h } from "../dom.js";

export default {
  path: "batches",
  title: "nav.batches",
  scope: "tenant:chat",
  async render(root) {
    root.append(h("p", {}, "…"));
  },
};
