import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmod, copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// MQTT.js directly: a bare probe of whether Mosquitto accepts a connection, with no service identity.
import { connect, type IClientOptions } from 'mqtt';
import { freePort, waitFor } from './net.js';
import { endChild } from './processes.js';

export interface RunningMosquitto {
  url: string;
  port: number;
  /** The device listener's URL, with `devices`. */
  deviceUrl: string | undefined;
  /** The device listener's password file as the broker reads it (a copy of the one given), with `devices`. */
  devicePasswordFile: string | undefined;
  /** SIGHUP: Mosquitto reads its configuration, password files and ACLs again. */
  reload(): void;
  /** Stops the broker (SIGTERM, SIGKILL if it has not exited after a while) and removes its folder. */
  stop(): Promise<void>;
  /**
   * Stops the broker (SIGKILL by default; SIGTERM is a graceful stop that fires wills and, with
   * persistence, saves sessions) and starts it again on the same port.
   */
  restart(signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>;
}

export interface MosquittoOptions {
  /** Require these users (name → password, via mosquitto_passwd) instead of allowing anonymous clients. */
  users?: Record<string, string>;
  /** Keep sessions, subscriptions and queued messages across restarts (on disk). Default false. */
  persistence?: boolean;
  /** An ACL file (`acl_file`), e.g. the shipped deploy/mosquitto.acl. */
  aclFile?: string;
  /**
   * A second listener for devices, as deploy/mosquitto.conf has it: its own password file and ACL
   * (`people-counter devices mosquitto-passwd|mosquitto-acl`), client ID = username.
   */
  devices?: { passwordFile: string; aclFile: string };
}

/** How long a SIGTERMed broker may take to exit before it is SIGKILLed. */
const STOP_TIMEOUT_MS = 5_000;

/**
 * Starts Debian's Mosquitto on a free loopback port with limits raised deliberately: its defaults
 * silently drop QoS 1 messages under bursts (max_queued_messages 1000).
 */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<RunningMosquitto> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'pc-mosquitto-'));
  const config = join(dir, 'mosquitto.conf');
  const users = Object.entries(options.users ?? {});
  const passwordFile = join(dir, 'passwd');
  for (const [i, [name, password]] of users.entries()) {
    execFileSync('mosquitto_passwd', [...(i === 0 ? ['-c'] : []), '-b', passwordFile, name, password]);
  }
  // Started as root, Mosquitto runs as its own user: it must be able to write its database here.
  if (options.persistence) await chmod(dir, 0o777);
  if (users.length > 0) {
    // Started as root, Mosquitto drops to its own user before it reads the password file.
    await chmod(dir, 0o755);
    await chmod(passwordFile, 0o644);
  }
  // A copy in the broker's own folder: Mosquitto, dropped to its own user, may not read the original.
  const aclFile = join(dir, 'acl');
  if (options.aclFile) {
    await copyFile(options.aclFile, aclFile);
    await chmod(aclFile, 0o644);
  }
  const devicePort = options.devices ? await freePort() : undefined;
  const devicePasswordFile = join(dir, 'devices.passwd');
  const deviceAclFile = join(dir, 'devices.acl');
  if (options.devices) {
    await copyFile(options.devices.passwordFile, devicePasswordFile);
    await copyFile(options.devices.aclFile, deviceAclFile);
    await Promise.all([chmod(devicePasswordFile, 0o644), chmod(deviceAclFile, 0o644)]);
  }
  const [probeUser] = users;
  const probe: IClientOptions = probeUser ? { username: probeUser[0], password: probeUser[1] } : {};
  await writeFile(
    config,
    [
      // Each listener its own accounts and ACL: devices cannot log in where the services do.
      ...(options.devices ? ['per_listener_settings true'] : []),
      `listener ${port} 127.0.0.1`,
      ...(users.length > 0 ? ['allow_anonymous false', `password_file ${passwordFile}`] : ['allow_anonymous true']),
      ...(options.aclFile ? [`acl_file ${aclFile}`] : []),
      ...(devicePort !== undefined
        ? [
            `listener ${devicePort} 127.0.0.1`,
            'use_username_as_clientid true',
            'allow_anonymous false',
            `password_file ${devicePasswordFile}`,
            `acl_file ${deviceAclFile}`,
          ]
        : []),
      'max_queued_messages 1000000',
      'max_inflight_messages 1000',
      ...(options.persistence ? ['persistence true', `persistence_location ${dir}/`] : ['persistence false']),
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      '',
    ].join('\n'),
  );
  let child: ChildProcess | undefined;
  const url = `mqtt://127.0.0.1:${port}`;
  const launch = async () => {
    child = spawn('mosquitto', ['-c', config], { stdio: ['ignore', 'ignore', 'inherit'] });
    await waitFor(() => canConnect(url, probe), { timeoutMs: 10_000, message: 'mosquitto to accept connections' });
  };
  const end = (signal: 'SIGKILL' | 'SIGTERM') => endChild(child, signal, STOP_TIMEOUT_MS);
  await launch();
  return {
    url,
    port,
    deviceUrl: devicePort === undefined ? undefined : `mqtt://127.0.0.1:${devicePort}`,
    devicePasswordFile: options.devices ? devicePasswordFile : undefined,
    reload: () => {
      child?.kill('SIGHUP');
    },
    stop: async () => {
      await end('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
    restart: async (signal = 'SIGKILL') => {
      await end(signal);
      await launch();
    },
  };
}

function canConnect(url: string, options: IClientOptions): Promise<boolean> {
  return new Promise((resolve) => {
    const client = connect(url, { ...options, reconnectPeriod: 0, connectTimeout: 500 });
    client.once('connect', () => {
      client.end(true);
      resolve(true);
    });
    client.once('error', () => {
      client.end(true);
      resolve(false);
    });
    client.once('close', () => resolve(false));
  });
}
