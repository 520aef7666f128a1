// A tiny HTTP server on 127.0.0.1 serving the scenario page and collecting results.
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');

function serve(onResult) {
  const scenarios = fs.readFileSync(path.join(__dirname, 'scenarios.js'));
  const server = http.createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/result') {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        res.end('ok');
        onResult(JSON.parse(body));
      });
      return;
    }
    if (req.url === '/scenarios.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      return res.end(scenarios);
    }
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>sdp</title><script src="/scenarios.js"></script>');
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

function save(out, browser, results) {
  for (const [name, result] of Object.entries(results)) {
    for (const [kind, sdp] of Object.entries(result)) {
      if (kind === 'error') {
        console.error(`${browser} ${name}: ${sdp}`);
        continue;
      }
      const file = path.join(out, `${browser}-${name}-${kind}.sdp`);
      fs.writeFileSync(file, sdp);
      console.log(file);
    }
  }
}

module.exports = { serve, save };
