// Placeholder until the page is written.

import { h } from "../dom.js";

export default {
  path: "prompts",
  title: "nav.prompts",
  scope: "tenant:admin",
  async render(root) {
    root.append(h("p", {}, "…"));
  },
};
