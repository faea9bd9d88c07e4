/* global require, module */
'use strict';
// Loads the compiled addon; on platforms where it was not built, getOriginalDst throws.
let addon;
try {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  addon = require('./build/Release/original_dst.node');
} catch (err) {
  addon = {
    getOriginalDst() {
      throw new Error(`SO_ORIGINAL_DST addon not available: ${err.message}`);
    },
  };
}
module.exports = addon;
