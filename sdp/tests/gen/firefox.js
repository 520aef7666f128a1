// Regenerates sdp/tests/corpus/firefox-*.sdp with the machine's headless Firefox (Debian
// `firefox-esr`): the page runs every scenario and POSTs the SDPs back. Run through ../gen-corpus.sh.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { serve, save } = require('./server');

const out = process.argv[2];

const prefs = {
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  'media.peerconnection.ice.loopback': true,
  'media.peerconnection.ice.obfuscate_host_addresses': false,
  'browser.shell.checkDefaultBrowser': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'app.update.enabled': false,
};

async function main() {
  let firefox;
  let profile;
  const done = new Promise((resolve, reject) => {
    const results = {};
    serve((msg) => {
      if (msg.done) resolve({ ua: msg.ua, results });
      else results[msg.name] = msg.result;
    }).then((server) => {
      profile = fs.mkdtempSync(path.join(os.tmpdir(), 'sdp-ff-'));
      fs.writeFileSync(
        path.join(profile, 'user.js'),
        Object.entries(prefs).map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});\n`).join(''),
      );
      const url = `http://127.0.0.1:${server.address().port}/?auto`;
      firefox = spawn('firefox-esr', ['--headless', '--no-remote', '--profile', profile, url], {
        stdio: 'ignore',
        detached: true,
      });
      firefox.on('exit', (code) => reject(new Error(`firefox exited with ${code}`)));
      setTimeout(() => reject(new Error('timed out')), 120000).unref();
      done.finally(() => server.close());
    });
  });
  try {
    const result = await done;
    save(out, 'firefox', result.results);
    console.log('firefox', result.ua);
  } finally {
    if (firefox) {
      firefox.removeAllListeners('exit');
      process.kill(-firefox.pid, 'SIGTERM');
    }
    if (profile) fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
