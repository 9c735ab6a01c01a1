import { workerdSuite } from "../../tools/vitest/workerd-suite.js";

export default workerdSuite({ configPath: "./wrangler.test.jsonc", testTimeout: 30_000 });
