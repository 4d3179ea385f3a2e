// Copies the TextMate grammar, kept once for every editor in editors/textmate/, into
// this extension (syntaxes/ is not committed). Run by `npm install` (prepare) and by
// `vsce package` (vscode:prepublish).
'use strict';

const fs = require('fs');
const path = require('path');

const from = path.join(__dirname, '..', '..', 'textmate', 'rlp.tmLanguage.json');
const to = path.join(__dirname, '..', 'syntaxes', 'rlp.tmLanguage.json');

fs.mkdirSync(path.dirname(to), { recursive: true });
fs.copyFileSync(from, to);
console.log(`copied ${path.relative(process.cwd(), from)} to ${path.relative(process.cwd(), to)}`);
