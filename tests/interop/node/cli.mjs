#!/usr/bin/env node
// RFC 9421 interop helper for entramado's tests.
//
// Reads ONE JSON object on stdin, writes ONE JSON object on stdout.
// All RFC 9421 work (signature base, Signature/Signature-Input serialisation,
// parsing and checking) is done by the independent npm library
// `http-message-signatures` (pinned at 1.0.6). This file only converts JSON
// to the library's message objects and supplies the raw Ed25519 sign/verify
// primitives from node:crypto that the library asks for.
//
// sign:   {"mode":"sign","alg":"ed25519","privateKeyPem":"...","keyid":"k1","label":"xrd",
//          "created":1700000000,"components":["@method",...],"message":{...}}
//      -> {"signature-input":"...","signature":"...","signature-base":"..."}
// verify: {"mode":"verify","alg":"ed25519","publicKeyPem":"...","message":{...}}
//      -> {"ok":true,...} | {"ok":false,"error":"...",...}
// message: {"method":"GET","url":"https://...","headers":{...}}   (request)
//          {"status":200,"headers":{...}}                          (response)
//          header values: string or array of strings (joined with ", ").
//
// Optional, sign:   "created": null (omit it; absent = now), "expires" (unix s),
//                   "nonce", "tag", "params" (names + order of the Signature-Input
//                   parameters, default ["created","keyid","alg"] + given optional
//                   ones), "request" (a request message, for ";req" components).
// Optional, verify: "label" (check only that signature), "keyid" (only signatures
//                   with this keyid use the key), "request", "tolerance" and
//                   "maxAge" (seconds), "requiredFields", "requiredParams".
// Both modes also return "signature-base": the base the library built (verify:
// when it got as far as checking the signature).
//
// Exit status: 0 whenever a result object was produced (including ok:false);
// 2 for malformed input; 1 for a failure while signing or an unexpected crash.

import { createPrivateKey, createPublicKey, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import hms from 'http-message-signatures';
import structuredHeader from 'http-message-signatures/lib/structured-header.js';

const { httpbis } = hms;
const { Dictionary } = structuredHeader;

const SUPPORTED_ALGS = new Set(['ed25519']);

class InputError extends Error {}

function fail(message) {
  throw new InputError(message);
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function isPlainObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function checkHeaders(headers, where) {
  if (headers === undefined) {
    return {};
  }
  if (!isPlainObject(headers)) {
    fail(`${where}.headers must be an object`);
  }
  for (const [name, value] of Object.entries(headers)) {
    const ok = typeof value === 'string'
      || (Array.isArray(value) && value.every((v) => typeof v === 'string'));
    if (!ok) {
      fail(`${where}.headers[${JSON.stringify(name)}] must be a string or an array of strings`);
    }
  }
  return { ...headers };
}

// Converts the JSON message into the library's Request / Response shape.
// The library tells them apart by the presence of a truthy `method`.
function toLibraryMessage(message, where) {
  if (!isPlainObject(message)) {
    fail(`${where} must be an object`);
  }
  const headers = checkHeaders(message.headers, where);
  if (message.method !== undefined) {
    if (typeof message.method !== 'string' || message.method === '') {
      fail(`${where}.method must be a non-empty string`);
    }
    if (typeof message.url !== 'string') {
      fail(`${where}.url must be a string (absolute URL)`);
    }
    try {
      new URL(message.url);
    } catch {
      fail(`${where}.url is not an absolute URL: ${message.url}`);
    }
    return { method: message.method, url: message.url, headers };
  }
  if (message.status !== undefined) {
    if (!Number.isInteger(message.status)) {
      fail(`${where}.status must be an integer`);
    }
    return { status: message.status, headers };
  }
  return fail(`${where} needs either "method"+"url" (request) or "status" (response)`);
}

function checkAlg(input) {
  if (!SUPPORTED_ALGS.has(input.alg)) {
    fail(`unsupported alg ${JSON.stringify(input.alg)} (supported: ${[...SUPPORTED_ALGS].join(', ')})`);
  }
  return input.alg;
}

function loadKey(pem, kind) {
  if (typeof pem !== 'string') {
    fail(`${kind === 'private' ? 'privateKeyPem' : 'publicKeyPem'} must be a PEM string`);
  }
  let key;
  try {
    key = kind === 'private' ? createPrivateKey(pem) : createPublicKey(pem);
  } catch (e) {
    fail(`cannot load ${kind} key: ${e.message}`);
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    fail(`${kind} key is ${key.asymmetricKeyType}, expected ed25519`);
  }
  return key;
}

function optionalStringArray(value, name) {
  if (value === undefined) {
    return undefined;
  }
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    fail(`${name} must be an array of strings`);
  }
  return value;
}

function optionalRequest(input) {
  return input.request === undefined ? undefined : toLibraryMessage(input.request, 'request');
}

function findHeader(headers, lcName) {
  const entry = Object.entries(headers).find(([name]) => name.toLowerCase() === lcName);
  if (!entry) {
    return undefined;
  }
  return Array.isArray(entry[1]) ? entry[1].join(', ') : entry[1];
}

async function doSign(input) {
  const alg = checkAlg(input);
  const privateKey = loadKey(input.privateKeyPem, 'private');
  const components = optionalStringArray(input.components, 'components');
  if (!components) {
    fail('components must be an array of strings');
  }
  if (input.label !== undefined && typeof input.label !== 'string') {
    fail('label must be a string');
  }
  if (input.keyid !== undefined && typeof input.keyid !== 'string') {
    fail('keyid must be a string');
  }
  const message = toLibraryMessage(input.message, 'message');
  const request = optionalRequest(input);

  // Signature parameters. `created` is unix seconds; absent = library default
  // (now); null = omit it. The library takes Date objects for created/expires.
  const paramValues = {};
  if (input.created === null) {
    paramValues.created = null;
  } else if (input.created !== undefined) {
    if (!Number.isInteger(input.created)) {
      fail('created must be an integer (unix seconds) or null');
    }
    paramValues.created = new Date(input.created * 1000);
  }
  if (input.expires !== undefined) {
    if (!Number.isInteger(input.expires)) {
      fail('expires must be an integer (unix seconds)');
    }
    paramValues.expires = new Date(input.expires * 1000);
  }
  for (const name of ['nonce', 'tag']) {
    if (input[name] !== undefined) {
      if (typeof input[name] !== 'string') {
        fail(`${name} must be a string`);
      }
      paramValues[name] = input[name];
    }
  }
  // Order of the parameters in Signature-Input. The library's own default is
  // keyid, alg, created, expires (expires = created + 300 s); ours mirrors the
  // entramado format: created, keyid, alg, then whatever optional ones were given.
  let params = optionalStringArray(input.params, 'params');
  if (!params) {
    params = ['created', 'keyid', 'alg'];
    for (const name of ['expires', 'nonce', 'tag']) {
      if (paramValues[name] !== undefined) {
        params.push(name);
      }
    }
  }

  let signatureBase = null;
  const key = {
    id: input.keyid,
    alg,
    async sign(data) {
      signatureBase = data.toString('utf8');
      return cryptoSign(null, data, privateKey);
    },
  };

  const signed = await httpbis.signMessage({
    key,
    name: input.label,
    params,
    fields: components,
    paramValues,
  }, message, request);

  return {
    exitCode: 0,
    output: {
      'signature-input': findHeader(signed.headers, 'signature-input'),
      'signature': findHeader(signed.headers, 'signature'),
      'signature-base': signatureBase,
    },
  };
}

// Keeps only dictionary member `label` of the Signature / Signature-Input
// headers, so that exactly that signature is checked (the library otherwise
// lets the LAST signature with a known key decide).
function selectLabel(headers, label) {
  const out = {};
  for (const [name, value] of Object.entries(headers)) {
    const lc = name.toLowerCase();
    if (lc !== 'signature' && lc !== 'signature-input') {
      out[name] = value;
      continue;
    }
    const dict = new Dictionary(Array.isArray(value) ? value.join(', ') : value);
    if (dict.has(label)) {
      out[name] = `${label}=${dict.get(label)}`;
    }
  }
  return out;
}

async function doVerify(input) {
  const alg = checkAlg(input);
  const publicKey = loadKey(input.publicKeyPem, 'public');
  const message = toLibraryMessage(input.message, 'message');
  const request = optionalRequest(input);
  if (input.label !== undefined && typeof input.label !== 'string') {
    fail('label must be a string');
  }
  if (input.keyid !== undefined && typeof input.keyid !== 'string') {
    fail('keyid must be a string');
  }
  for (const name of ['tolerance', 'maxAge']) {
    if (input[name] !== undefined && !(typeof input[name] === 'number' && input[name] >= 0)) {
      fail(`${name} must be a non-negative number of seconds`);
    }
  }
  const requiredFields = optionalStringArray(input.requiredFields, 'requiredFields');
  const requiredParams = optionalStringArray(input.requiredParams, 'requiredParams');

  let signatureBase = null;
  const verifyingKey = {
    id: input.keyid,
    algs: [alg],
    async verify(data, signature) {
      signatureBase = data.toString('utf8');
      return cryptoVerify(null, data, publicKey, signature);
    },
  };

  const result = { ok: false };
  try {
    if (input.label !== undefined) {
      message.headers = selectLabel(message.headers, input.label);
      if (findHeader(message.headers, 'signature') === undefined
        || findHeader(message.headers, 'signature-input') === undefined) {
        throw new Error(`no signature labelled ${JSON.stringify(input.label)}`);
      }
    }
    const verified = await httpbis.verifyMessage({
      // keyid given: only signatures whose keyid parameter matches use the key;
      // otherwise the key is offered for every signature.
      async keyLookup(params) {
        if (input.keyid !== undefined && params.keyid !== input.keyid) {
          return null;
        }
        return verifyingKey;
      },
      tolerance: input.tolerance,
      maxAge: input.maxAge,
      requiredFields,
      requiredParams,
    }, message, request);
    if (verified === true) {
      result.ok = true;
    } else if (verified === false) {
      result.error = 'signature verification failed';
    } else {
      result.error = 'no signature checked (no signature headers, or no signature with a matching key)';
    }
  } catch (e) {
    result.error = `${e.name}: ${e.message}`;
  }
  if (signatureBase !== null) {
    result['signature-base'] = signatureBase;
  }
  return { exitCode: 0, output: result };
}

async function main() {
  let input;
  try {
    const text = await readStdin();
    try {
      input = JSON.parse(text);
    } catch (e) {
      fail(`stdin is not valid JSON: ${e.message}`);
    }
    if (!isPlainObject(input)) {
      fail('stdin must hold one JSON object');
    }
    if (input.mode === 'sign') {
      return await doSign(input);
    }
    if (input.mode === 'verify') {
      return await doVerify(input);
    }
    return fail(`mode must be "sign" or "verify", got ${JSON.stringify(input.mode)}`);
  } catch (e) {
    const exitCode = e instanceof InputError ? 2 : 1;
    process.stderr.write(`cli.mjs: ${e instanceof InputError ? 'bad input' : 'error'}: ${e.stack ?? e}\n`);
    return { exitCode, output: { error: e.message } };
  }
}

const { exitCode, output } = await main();
process.stdout.write(`${JSON.stringify(output)}\n`);
process.exitCode = exitCode;
