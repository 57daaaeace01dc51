// Preloaded into NNI's manager (node --require, through NODE_OPTIONS) by nas/experiment.py.
// NNI 3.0's REST server calls app.listen(port) with no host, which listens on every interface;
// this makes every TCP server of that process listen on NAS_BIND_HOST (127.0.0.1 by default).
'use strict';
const net = require('net');
const host = process.env.NAS_BIND_HOST || '127.0.0.1';
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (typeof args[1] !== 'string') args.splice(1, 0, host);  // listen(port[, host], ...)
  } else if (first && typeof first === 'object' && first.path === undefined && first.host === undefined) {
    args[0] = Object.assign({}, first, { host });              // listen({port, ...})
  }
  return listen.apply(this, args);
};
