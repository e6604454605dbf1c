// The BullMQ side of recur's side-by-side benchmark. `recur-bench` runs it against the same private
// redis-server, one workload at a time, and reads the one JSON line it prints.
//
//   node bench.mjs <workload> --port P [--jobs N] [--concurrency C] [--remove-on-complete] [--spread-ms S]
//
// w1: N no-op jobs, all due at one instant, enqueued with addBulk; one worker with concurrency C. With
//     --due-now the jobs are due at once (no delay) and the worker starts when all are queued.
// w2: N one-shot jobs due spread over S ms; lateness of each start against its due time.
// w3: N schedulers (upsertJobScheduler) every second, R times each, one worker: fires, duplicates, misses,
//     lateness; and bytes per idle scheduler.
// w4: one job whose worker process is killed mid-run; the time until another worker starts it again
//     (run as `w4` by the bench, which spawns `w4-victim` and kills it).
import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';

const args = process.argv.slice(2);
const workload = args[0];
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at < 0 ? fallback : args[at + 1];
};
const port = Number(option('port', 6379));
const jobs = Number(option('jobs', 20000));
const concurrency = Number(option('concurrency', 16));
const spreadMs = Number(option('spread-ms', 10000));
const lockMs = Number(option('lock-ms', 30000));
const removeOnComplete = args.includes('--remove-on-complete');
const dueNow = args.includes('--due-now');
const queueName = option('queue', `${workload}-${Date.now()}`);
const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };

const redis = new IORedis(connection);
// The bytes the keys matching `pattern` hold, from MEMORY USAGE with every element counted: the same sum the
// recur side takes, which leaves out what Redis holds for its clients.
const keyBytes = async (pattern) => {
  let cursor = '0';
  let bytes = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    const usage = redis.pipeline();
    for (const key of keys) usage.memory('USAGE', key, 'SAMPLES', 0);
    for (const [error, size] of await usage.exec()) {
      if (error) throw error;
      bytes += Number(size ?? 0);
    }
    cursor = next;
  } while (cursor !== '0');
  return bytes;
};
// CPU seconds Redis has used, user + system.
const redisCpu = async () => {
  const info = await redis.info('cpu');
  return Number(/used_cpu_user:([\d.]+)/.exec(info)[1]) + Number(/used_cpu_sys:([\d.]+)/.exec(info)[1]);
};
const commandStats = async () => {
  const stats = {};
  for (const line of (await redis.info('commandstats')).split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (match) stats[match[1]] = Number(match[2]);
  }
  return stats;
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const quantile = (sorted, q) => sorted[Math.round((sorted.length - 1) * q)];

async function w1() {
  const queue = new Queue(queueName, { connection });
  await queue.waitUntilReady();
  const options = { removeOnComplete, removeOnFail: removeOnComplete };
  const dueIn = 3000 + jobs / 4;
  const due = Date.now() + dueIn;
  const memoryBefore = await keyBytes(`bull:${queueName}:*`);
  await redis.config('RESETSTAT');
  const enqueueStart = performance.now();
  for (let first = 0; first < jobs; first += 1000) {
    const batch = [];
    for (let i = first; i < Math.min(first + 1000, jobs); i++) {
      const delay = dueNow ? undefined : Math.max(0, due - Date.now());
      batch.push({ name: 'noop', data: { i }, opts: { ...options, delay } });
    }
    await queue.addBulk(batch);
  }
  const enqueueSeconds = (performance.now() - enqueueStart) / 1000;
  const enqueueStats = await commandStats();
  delete enqueueStats.info;
  delete enqueueStats['config|resetstat'];
  const enqueueCommands = Object.values(enqueueStats).reduce((a, b) => a + b, 0);
  const bytesPerJob = Math.round(((await keyBytes(`bull:${queueName}:*`)) - memoryBefore) / jobs);
  if (!dueNow && Date.now() >= due) throw new Error(`enqueueing took ${enqueueSeconds} s, past the due time`);
  let completed = 0;
  let resolveDone;
  const done = new Promise((resolve) => (resolveDone = resolve));
  const worker = new Worker(queueName, async () => null, { connection, concurrency, autorun: false });
  worker.on('completed', () => {
    completed += 1;
    if (completed === jobs) resolveDone();
  });
  let start;
  let cpuAtStart;
  if (dueNow) {
    await redis.config('RESETSTAT');
    cpuAtStart = [await redisCpu(), process.cpuUsage()];
    start = performance.now();
    worker.run();
  } else {
    worker.run();
    await worker.waitUntilReady();
    await sleep(Math.max(0, due - Date.now() - 200));
    await redis.config('RESETSTAT');
    await sleep(Math.max(0, due - Date.now()));
    cpuAtStart = [await redisCpu(), process.cpuUsage()];
    start = performance.now();
  }
  await done;
  const seconds = (performance.now() - start) / 1000;
  const workerCpu = process.cpuUsage(cpuAtStart[1]);
  const redisCpuSeconds = (await redisCpu()) - cpuAtStart[0];
  const stats = await commandStats();
  // Less our CONFIG RESETSTAT (INFO does not count the call that reports).
  const total = Object.values(stats).reduce((a, b) => a + b, 0) - 1;
  await worker.close();
  await queue.close();
  return {
    enqueue_per_second: jobs / enqueueSeconds,
    enqueue_commands_per_job: enqueueCommands / jobs,
    jobs_per_second: jobs / seconds,
    commands_per_job: total / jobs,
    script_calls_per_job: ((stats.evalsha ?? 0) + (stats.eval ?? 0)) / jobs,
    bytes_per_queued_job: bytesPerJob,
    redis_cpu_ms: (redisCpuSeconds * 1e6) / jobs,
    worker_cpu_ms: (workerCpu.user + workerCpu.system) / 1000 / jobs * 1000,
  };
}

async function w2() {
  const queue = new Queue(queueName, { connection });
  const lateness = [];
  let resolveDone;
  const done = new Promise((resolve) => (resolveDone = resolve));
  const worker = new Worker(
    queueName,
    async (job) => {
      lateness.push(Date.now() - job.data.due);
      if (lateness.length === jobs) resolveDone();
    },
    { connection, concurrency },
  );
  await worker.waitUntilReady();
  const first = Date.now() + 3000;
  const batch = [];
  for (let i = 0; i < jobs; i++) {
    const due = first + Math.floor((i * spreadMs) / jobs);
    batch.push({ name: 'once', data: { due }, opts: { delay: due - Date.now(), removeOnComplete: true } });
  }
  await queue.addBulk(batch);
  await done;
  await worker.close();
  await queue.close();
  lateness.sort((a, b) => a - b);
  return {
    lateness_p50_ms: quantile(lateness, 0.5),
    lateness_p99_ms: quantile(lateness, 0.99),
    lateness_max_ms: lateness[lateness.length - 1],
    early_starts: lateness.filter((ms) => ms < 0).length,
  };
}

async function w3() {
  const repeats = Number(option('repeats', 20));
  const queue = new Queue(queueName, { connection });
  await queue.waitUntilReady();
  // Idle schedulers first: bytes per scheduler whose first run is far away.
  const idle = new Queue(`${queueName}-idle`, { connection });
  const memoryBefore = await keyBytes(`bull:${queueName}-idle:*`);
  const far = Date.now() + 24 * 3600 * 1000;
  for (let i = 0; i < jobs; i++) {
    await idle.upsertJobScheduler(`idle-${i}`, { every: 3600 * 1000, startDate: far }, { name: 'idle' });
  }
  const bytesPerIdleSchedule = Math.round(((await keyBytes(`bull:${queueName}-idle:*`)) - memoryBefore) / jobs);
  await idle.obliterate({ force: true });
  await idle.close();

  const lateness = [];
  const seen = new Map();
  let duplicates = 0;
  const worker = new Worker(
    queueName,
    async (job) => {
      const due = job.timestamp + (job.opts.delay ?? 0);
      lateness.push(Date.now() - due);
      const key = `${job.repeatJobKey ?? job.name}:${due}`;
      if (seen.has(key)) duplicates += 1;
      seen.set(key, true);
    },
    { connection, concurrency },
  );
  await worker.waitUntilReady();
  const start = Math.ceil((Date.now() + 3000) / 1000) * 1000;
  for (let i = 0; i < jobs; i++) {
    await queue.upsertJobScheduler(`every-${i}`, { every: 1000, limit: repeats, startDate: start }, { name: 'tick' });
  }
  await sleep(start + repeats * 1000 + 3000 - Date.now());
  await worker.close();
  await queue.close();
  lateness.sort((a, b) => a - b);
  return {
    fires: lateness.length,
    duplicates,
    misses: Math.max(0, jobs * repeats - seen.size),
    lateness_p50_ms: quantile(lateness, 0.5),
    lateness_p99_ms: quantile(lateness, 0.99),
    bytes_per_idle_schedule: bytesPerIdleSchedule,
  };
}

// The victim: takes the one job and hangs in it until it is killed.
async function w4Victim() {
  const worker = new Worker(queueName, async () => new Promise(() => {}), {
    connection,
    lockDuration: lockMs,
    stalledInterval: lockMs,
  });
  worker.on('active', () => console.log(JSON.stringify({ active_at: Date.now() })));
  await new Promise(() => {});
}

// The survivor: started after the kill, reports when it starts the same job again.
async function w4Survivor() {
  const started = new Promise((resolve) => {
    const worker = new Worker(queueName, async () => resolve({ restarted_at: Date.now(), worker }), {
      connection,
      lockDuration: lockMs,
      stalledInterval: lockMs,
    });
  });
  const { restarted_at, worker } = await started;
  await worker.close();
  return { restarted_at };
}

async function w4Enqueue() {
  const queue = new Queue(queueName, { connection });
  await queue.add('victim', {}, { attempts: 3 });
  await queue.close();
  return {};
}

const workloads = {
  w1,
  w2,
  w3,
  'w4-enqueue': w4Enqueue,
  'w4-victim': w4Victim,
  'w4-survivor': w4Survivor,
};
if (!workloads[workload]) {
  console.error(`unknown workload ${workload}; one of ${Object.keys(workloads).join(', ')}`);
  process.exit(2);
}
const result = await workloads[workload]();
console.log(JSON.stringify(result));
await redis.quit();
process.exit(0);
