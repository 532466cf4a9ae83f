// The runtime inside a Node.js function's worker process: the same protocol as
// bootstrap.py (one JSON line each way over stdin/stdout; the function's output
// goes to the log file), with AWS's Node.js handler conventions (async or
// callback handlers, the context object, console lines with the request id).
// Node's standard library only, no workshop imports.
//
// Usage (by the function runner only): node bootstrap.js LOG_FILE
"use strict";

const fs = require("fs");
const path = require("path");
const util = require("util");
const readline = require("readline");
const http = require("http");
const https = require("https");

const logFd = fs.openSync(process.argv[2], "a", 0o600);
let requestId = "";

function write(text) {
  fs.writeSync(logFd, text);
}

// Everything the function prints goes to the log file, never to the protocol pipe.
process.stdout.write = (chunk, encoding, cb) => { write(String(chunk)); if (typeof cb === "function") cb(); return true; };
process.stderr.write = (chunk, encoding, cb) => { write(String(chunk)); if (typeof cb === "function") cb(); return true; };
for (const [name, level] of [["log", "INFO"], ["info", "INFO"], ["warn", "WARN"], ["error", "ERROR"],
                             ["debug", "DEBUG"], ["trace", "TRACE"]]) {
  console[name] = (...args) => {
    write(`${new Date().toISOString()}\t${requestId || "undefined"}\t${level}\t${util.format(...args)}\n`);
  };
}

// On AWS, S3's host answers on 443: here the cloud answers at its endpoint, plain HTTP.
// A request the function's code sends over https to the cloud's own host name without a
// port (CDK's handlers send their CloudFormation responses so) reaches the endpoint.
const endpoint = process.env.AWS_ENDPOINT_URL ? new URL(process.env.AWS_ENDPOINT_URL) : null;
const cloudHosts = new Set(["localhost", "127.0.0.1", "::1", "[::1]"]);
if (endpoint) cloudHosts.add(endpoint.hostname);
const httpsRequest = https.request;
https.request = function request(options, ...rest) {
  if (endpoint && endpoint.protocol === "http:") {
    let target = options;
    if (typeof options === "string" || options instanceof URL) {
      const url = new URL(String(options));
      if (cloudHosts.has(url.hostname) && !url.port) {
        target = { hostname: url.hostname, path: url.pathname + url.search };
        if (rest.length && typeof rest[0] === "object") Object.assign(target, rest.shift());
      }
    }
    const host = typeof target === "object" ? (target.hostname || target.host) : null;
    if (host && cloudHosts.has(host) && !target.port) {
      const plain = { ...target, hostname: endpoint.hostname, host: undefined, port: endpoint.port || 80,
                      protocol: "http:", agent: undefined };
      return http.request(plain, ...rest);
    }
  }
  return httpsRequest.call(this, options, ...rest);
};

function reply(message) {
  fs.writeSync(1, JSON.stringify(message) + "\n");
}

function errorPayload(err, type) {
  const e = err instanceof Error ? err : new Error(String(err));
  return {
    errorType: type || e.name || "Error",
    errorMessage: e.message,
    trace: String(e.stack || "").split("\n"),
  };
}

function logError(payload) {
  write(`${new Date().toISOString()}\t${requestId || "undefined"}\tERROR\t` +
        `${JSON.stringify(payload)}\n`);
}

async function loadHandler(spec) {
  const dot = spec.lastIndexOf(".");
  if (dot <= 0) {
    throw Object.assign(new Error(`Bad handler ${spec}`), { fault: "Runtime.MalformedHandlerName" });
  }
  const modulePath = path.resolve(process.env.LAMBDA_TASK_ROOT, spec.slice(0, dot));
  const name = spec.slice(dot + 1);
  let module;
  const candidates = [".js", ".cjs", ".mjs"].map((ext) => modulePath + ext);
  const file = candidates.find((f) => fs.existsSync(f));
  if (!file) {
    throw Object.assign(new Error(`Cannot find module '${spec.slice(0, dot)}'`), { fault: "Runtime.ImportModuleError" });
  }
  try {
    module = file.endsWith(".mjs") ? await import("file://" + file) : require(file);
  } catch (err) {
    if (err && err.code === "ERR_REQUIRE_ESM") {
      module = await import("file://" + file);
    } else {
      throw Object.assign(err instanceof Error ? err : new Error(String(err)),
                          { fault: err instanceof SyntaxError ? "Runtime.UserCodeSyntaxError" : "Runtime.ImportModuleError" });
    }
  }
  const handler = module[name] || (module.default && module.default[name]);
  if (typeof handler !== "function") {
    throw Object.assign(new Error(`${spec.slice(0, dot)}.${name} is undefined or not exported`),
                        { fault: "Runtime.HandlerNotFound" });
  }
  return handler;
}

function context(message) {
  const env = process.env;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: message.invoked_arn,
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: message.request_id,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    clientContext: message.client_context || undefined,
    getRemainingTimeInMillis: () => Math.max(0, message.deadline_ms - Date.now()),
  };
}

function callHandler(handler, event, ctx) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (err, value) => {
      if (settled) return;
      settled = true;
      if (err) reject(err); else resolve(value);
    };
    try {
      const result = handler(event, ctx, done);
      if (result && typeof result.then === "function") {
        result.then((value) => done(null, value), (err) => done(err));
      } else if (handler.length < 3) {
        done(null, result);
      }
    } catch (err) {
      done(err);
    }
  });
}

function memoryMb() {
  return Math.round(process.memoryUsage().rss / (1024 * 1024));
}

async function invoke(handler, message) {
  requestId = message.request_id;
  process.env._X_AMZN_TRACE_ID = message.trace_id || "";
  fs.ftruncateSync(logFd, 0);   // the cloud reads this invocation's output after the reply
  const started = process.hrtime.bigint();
  let out;
  try {
    const event = message.event ? JSON.parse(message.event) : {};
    const result = await callHandler(handler, event, context(message));
    out = { ok: true, payload: JSON.stringify(result === undefined ? null : result) };
  } catch (err) {
    const payload = errorPayload(err);
    logError(payload);
    out = { ok: false, error: payload };
  }
  out.duration_ms = Number(process.hrtime.bigint() - started) / 1e6;
  out.max_memory_mb = memoryMb();
  return out;
}

async function main() {
  reply({ ok: true, op: "started" });
  let handler = null;
  const lines = readline.createInterface({ input: fs.createReadStream(null, { fd: 0 }), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const message = JSON.parse(line);
    if (message.op === "init") {
      const started = process.hrtime.bigint();
      let out;
      try {
        handler = await loadHandler(process.env._HANDLER || "");
        out = { ok: true };
      } catch (err) {
        const payload = errorPayload(err, err && err.fault);
        logError(payload);
        out = { ok: false, error: payload };
      }
      out.init_ms = Number(process.hrtime.bigint() - started) / 1e6;
      reply(out);
    } else if (message.op === "invoke" && handler) {
      reply(await invoke(handler, message));
    } else {
      reply({ ok: false, error: { errorType: "Runtime.Unknown", errorMessage: `unexpected request ${message.op}` } });
    }
  }
}

main();
