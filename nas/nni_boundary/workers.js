// Preloaded into NNI's manager of a remote search (node --require, through NODE_OPTIONS) by
// nas/nni_boundary/manager.py; NAS_DROP_FILE names the file the search writes lost machines into.
// Two changes to NNI 3.0's remote training service, made as its modules load:
// - a cap: NNI hands trials to its workers in turn, busy or not (V3asV1.schedule), so a machine ran
//   two trials while another sat idle; here a worker (one trial slot of a machine) gets a trial only
//   when it runs none, and a trial waits while every slot is busy;
// - a drop: a machine the search finds hung or gone (its SSH link answered no keep-alive) is written
//   into NAS_DROP_FILE as "host:port"; its workers are stopped the way NNI stops a failed one (its
//   trials end USER_CANCELED, its slots leave the schedule), and a trial creation still waiting on
//   it gives up, so the scheduler is never stuck on a machine that will not answer.
'use strict';
const fs = require('fs');
const Module = require('module');

const dropFile = process.env.NAS_DROP_FILE;
const ACTIVE = ['WAITING', 'RUNNING'];
const RESERVED_MS = 60000;  // a slot just handed a trial stays busy until the trial shows (or this passes)

function patchSchedule(V3asV1) {
  V3asV1.prototype.schedule = function () {
    if (this.environments.length === 0) return null;
    this._nasReserved = this._nasReserved || new Map();
    const now = Date.now();
    const trials = Object.values(this.trialJobs);
    const busy = (envId) => trials.some(t => t.envId === envId && ACTIVE.includes(t.status))
      || (this._nasReserved.has(envId) && now - this._nasReserved.get(envId) < RESERVED_MS
          && !trials.some(t => t.envId === envId && t.submitTime >= this._nasReserved.get(envId)));
    const start = this.environments.findIndex(env => env.id === this.lastEnvId);
    for (let i = 1; i <= this.environments.length; i++) {
      const env = this.environments[(start + i) % this.environments.length];
      if (!busy(env.id)) {
        this.lastEnvId = env.id;
        this._nasReserved.set(env.id, now);
        return env.id;
      }
    }
    return null;  // every slot busy: NNI's submit waits a second and asks again
  };
}

function patchRemote(Remote) {
  const launchWorker = Remote.prototype.launchWorker;
  Remote.prototype.launchWorker = function (config) {
    if (!this._nasWatching) {
      this._nasWatching = setInterval(() => dropListed(this), 1000);
      this._nasWatching.unref();
    }
    return launchWorker.call(this, config);
  };
  const restartWorker = Remote.prototype.restartWorker;
  Remote.prototype.restartWorker = function (oldWorker) {
    // NNI relaunches a worker whose channel failed; a dropped machine's would hang in its SSH
    // handshake and then crash the manager with an unhandled ssh2 error
    if (dropped().includes(key(oldWorker))) return this.stopWorker(oldWorker, true);
    return restartWorker.call(this, oldWorker);
  };
  const createTrial = Remote.prototype.createTrial;
  Remote.prototype.createTrial = function (envId, ...rest) {
    const worker = this.workersByEnv.get(envId);
    if (!worker) return createTrial.call(this, envId, ...rest);
    if (!worker._nasDropped) worker._nasDropped = new Promise(resolve => { worker._nasDrop = resolve; });
    return Promise.race([createTrial.call(this, envId, ...rest), worker._nasDropped]);
  };
}

function key(worker) {
  return `${worker.config.host}:${worker.config.port}`;
}

function dropped() {
  try {
    return fs.readFileSync(dropFile, 'utf8').split('\n').filter(Boolean);
  } catch (e) {
    return [];  // nothing dropped yet
  }
}

function dropListed(service) {
  const listed = dropped();
  for (const worker of Array.from(service.workers)) {
    if (!listed.includes(key(worker))) continue;
    service.log.error(`Worker ${worker.config.host}:${worker.config.port} dropped: it answers no SSH keep-alive`);
    service.stopWorker(worker, true);
    if (worker._nasDrop) worker._nasDrop(null);
    else worker._nasDropped = Promise.resolve(null);
  }
}

if (dropFile) {
  const load = Module._load;
  Module._load = function (...args) {
    const exported = load.apply(this, args);
    if (exported && exported.V3asV1 && !exported.V3asV1._nasPatched) {
      patchSchedule(exported.V3asV1);
      exported.V3asV1._nasPatched = true;
    }
    if (exported && exported.RemoteTrainingServiceV3 && !exported.RemoteTrainingServiceV3._nasPatched) {
      patchRemote(exported.RemoteTrainingServiceV3);
      exported.RemoteTrainingServiceV3._nasPatched = true;
    }
    return exported;
  };
}
