// The rlp extension: the language (highlighting, brackets, comments, indentation) is
// declared in package.json; this starts the language server, `rlpc lsp`, over stdio.
'use strict';

const os = require('os');
const path = require('path');
const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');

/** @type {LanguageClient | undefined} */
let client;

/** The `rlpc` to run: the `rlp.serverPath` setting, `~` and `${workspaceFolder}` expanded. */
function serverPath() {
  const configured = vscode.workspace.getConfiguration('rlp').get('serverPath') || 'rlpc';
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? '';
  let p = configured.replace(/\$\{workspaceFolder\}/g, folder);
  if (p === '~' || p.startsWith('~/')) {
    p = path.join(os.homedir(), p.slice(1));
  }
  return p;
}

function createClient() {
  const command = serverPath();
  /** @type {import('vscode-languageclient/node').ServerOptions} */
  const serverOptions = {
    run: { command, args: ['lsp'], transport: TransportKind.stdio },
    debug: { command, args: ['lsp'], transport: TransportKind.stdio },
  };
  /** @type {import('vscode-languageclient/node').LanguageClientOptions} */
  const clientOptions = {
    documentSelector: [
      { scheme: 'file', language: 'rlp' },
      { scheme: 'untitled', language: 'rlp' },
    ],
    synchronize: {
      fileEvents: vscode.workspace.createFileSystemWatcher('**/*.rlp'),
    },
    outputChannelName: 'rlp language server',
  };
  return new LanguageClient('rlp', 'rlp language server', serverOptions, clientOptions);
}

async function start() {
  if (!vscode.workspace.getConfiguration('rlp').get('server.enable', true)) {
    return;
  }
  client = createClient();
  try {
    await client.start();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    client = undefined;
    vscode.window.showWarningMessage(
      `rlp: could not start the language server \`${serverPath()} lsp\` (${message}). ` +
        'Highlighting still works; set "rlp.serverPath" to your rlpc executable.',
    );
  }
}

async function stop() {
  const c = client;
  client = undefined;
  if (c) {
    await c.stop();
  }
}

/** @param {vscode.ExtensionContext} context */
async function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand('rlp.restartServer', async () => {
      await stop();
      await start();
    }),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (e.affectsConfiguration('rlp.serverPath') || e.affectsConfiguration('rlp.server.enable')) {
        await stop();
        await start();
      }
    }),
  );
  await start();
}

function deactivate() {
  return stop();
}

module.exports = { activate, deactivate };
