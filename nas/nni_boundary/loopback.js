// Preloaded into NNI's manager (node --require, through NODE_OPTIONS) by nas/nni_boundary/manager.py,
// and into each remote worker's trial keeper by nas/engine/machines.py's wrapper.
// NNI 3.0's REST server calls app.listen(port) with no host, its trial keeper listen(0, '0.0.0.0'):
// both listen on every interface; this makes every TCP server of the process listen on NAS_BIND_HOST
// (127.0.0.1 by default) instead.
'use strict';
const net = require('net');
const host = process.env.NAS_BIND_HOST || '127.0.0.1';
const WILDCARD = ['', '0.0.0.0', '::'];
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (typeof args[1] !== 'string') args.splice(1, 0, host);  // listen(port[, host], ...)
    else if (WILDCARD.includes(args[1])) args[1] = host;       // a trial keeper's listen(0, '0.0.0.0')
  } else if (first && typeof first === 'object' && first.path === undefined
             && (first.host === undefined || WILDCARD.includes(first.host))) {
    args[0] = Object.assign({}, first, { host });              // listen({port, ...})
  }
  return listen.apply(this, args);
};
