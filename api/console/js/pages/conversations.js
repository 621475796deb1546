// Placeholder until the page is written.

import { h } from "../dom.js";

export default {
  path: "conversations",
  title: "nav.conversations",
  scope: "tenant:chat",
  async render(root) {
    root.append(h("p", {}, "…"));
  },
};
