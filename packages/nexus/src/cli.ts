#!/usr/bin/env node
/** `nexus` command line: `nexus serve [flags]`. Flags override env, which overrides the file. */
import { Command, Option } from 'commander';
import { isBngError } from '@bng/api';
import { loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { createNexus } from './server.js';

const program = new Command();
program.name('nexus').description('Nexus coordinator for the BNG: replicated state, hashring allocation, zero-touch bootstrap');

program.command('serve')
  .description('run a Nexus replica')
  .option('-c, --config <file>', 'YAML or JSON config file')
  .option('--node-id <id>', 'allocator id (default: kept in <data-dir>/node-id)')
  .option('--data-dir <dir>', 'where the snapshot, log and audit log live')
  .option('--host <host>', 'listen address')
  .option('--port <port>', 'listen port (0 picks a free one)')
  .option('--peer <url...>', 'peer replica (ws://host:port/replicate or wss://...), repeatable')
  .option('--admin-token <token>', 'operator credential')
  .option('--bootstrap-key <key>', 'pre-shared key for device registration')
  .option('--replication-secret <secret>', 'shared secret between peers')
  .option('--quarantine-seconds <n>', 'how long a released address stays unusable')
  .option('--block-size <n>', 'units per hashring block')
  .addOption(new Option('--log-level <level>').choices(['debug', 'info', 'warn', 'error', 'silent']))
  .option('--no-fsync', 'acknowledge writes before fdatasync (survives process crashes, not power loss)')
  .option('--set <path=value...>', 'any other setting by dotted path, e.g. --set devices.offline_after_seconds=30')
  .action(async (opts: Record<string, unknown>) => {
    const flags: Record<string, unknown> = {
      node_id: opts['nodeId'], data_dir: opts['dataDir'], 'listen.host': opts['host'], 'listen.port': opts['port'],
      'replication.peers': opts['peer'], 'auth.admin_token': opts['adminToken'], 'auth.bootstrap_key': opts['bootstrapKey'],
      'replication.secret': opts['replicationSecret'], 'allocation.quarantine_seconds': opts['quarantineSeconds'],
      'allocation.block_size': opts['blockSize'], log_level: opts['logLevel'],
      ...(opts['fsync'] === false ? { 'persistence.fsync': false } : {}),
    };
    for (const kv of (opts['set'] as string[] | undefined) ?? []) {
      const i = kv.indexOf('=');
      if (i <= 0) { process.stderr.write(`nexus: --set ${kv}: expected path=value\n`); process.exit(2); }
      flags[kv.slice(0, i)] = kv.slice(i + 1);
    }
    let config;
    try {
      config = loadConfig({ file: opts['config'] as string | undefined, env: process.env, flags });
    } catch (e) {
      if (isBngError(e)) { process.stderr.write(`nexus: invalid configuration: ${e.message}\n`); process.exit(2); }
      throw e;
    }
    const log = createLogger(config.log_level);
    let nexus;
    try {
      nexus = await createNexus(config, { log });
      const { host, port } = await nexus.start();
      // One machine-readable line on stdout so supervisors and tests learn the bound port.
      process.stdout.write(`${JSON.stringify({ msg: 'listening', node: nexus.nodeId, host, port })}\n`);
    } catch (e) {
      process.stderr.write(`nexus: ${(e as Error).message}\n`);
      process.exit(1);
    }
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      void nexus.stop().then(() => process.exit(0), () => process.exit(1));
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });

await program.parseAsync(process.argv);
