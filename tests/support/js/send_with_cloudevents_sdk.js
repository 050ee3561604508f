// Sends CloudEvents with the official JavaScript SDK (npm `cloudevents`), through its
// own HTTP emitter, so that tests see exactly what a real JavaScript producer sends.
//
//   node send_with_cloudevents_sdk.js <sink-url> < events.json
//
// stdin: a JSON array of {"mode": "binary"|"structured", "event": {attributes..., data}}.
// stdout: a JSON array, per event, of {"headers": <what the SDK put on the wire>,
// "body": <the sink's response body>}. The SDK's transport does not report the status.
"use strict";

const { CloudEvent, HTTP, Mode, emitterFor, httpTransport } = require("cloudevents");

async function main() {
  const sink = process.argv[2];
  const jobs = JSON.parse(require("fs").readFileSync(0, "utf-8"));
  const results = [];
  for (const job of jobs) {
    const event = new CloudEvent(job.event);
    const mode = job.mode === "structured" ? Mode.STRUCTURED : Mode.BINARY;
    const message = mode === Mode.STRUCTURED ? HTTP.structured(event) : HTTP.binary(event);
    const emit = emitterFor(httpTransport(sink), { mode });
    const response = await emit(event);
    results.push({ headers: message.headers, body: response.body });
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error) + "\n");
  process.exit(1);
});
