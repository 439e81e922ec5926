/** Where the package's files are, from the compiled tests (build-test/test/). */
import { fileURLToPath } from "node:url";

export const PACKAGE_DIR = fileURLToPath(new URL("../../", import.meta.url));
export const REPO_DIR = fileURLToPath(new URL("../../../../", import.meta.url));
