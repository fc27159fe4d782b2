// The docs' Node snippet (docs/twilio-api.md), run by tests/interop/test_twilio_node_sdk.py:
// the official `twilio` Node SDK pointed at the gateway's REST subset creates a call, waits
// until it is answered, then ends it. One JSON line per step on stdout.
const twilio = require("twilio");

async function main() {
  const { ACCOUNT_SID, AUTH_TOKEN, GATEWAY_URL, TO, FROM, TWIML } = process.env;
  const client = twilio(ACCOUNT_SID, AUTH_TOKEN);
  client.api.baseUrl = GATEWAY_URL; // the admin server (behind its TLS proxy in production)
  const call = await client.calls.create({ to: TO, from: FROM, twiml: TWIML });
  console.log(JSON.stringify({ step: "created", sid: call.sid, status: call.status,
                               accountSid: call.accountSid, to: call.to, from: call.from }));
  let fetched = call;
  for (let i = 0; i < 200 && fetched.status !== "in-progress"; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    fetched = await client.calls(call.sid).fetch();
  }
  console.log(JSON.stringify({ step: "fetched", status: fetched.status }));
  const ended = await client.calls(call.sid).update({ status: "completed" });
  console.log(JSON.stringify({ step: "updated", status: ended.status,
                               endTime: ended.endTime && ended.endTime.toISOString() }));
  try {
    await client.calls("CA" + "0".repeat(32)).fetch();
  } catch (error) {
    console.log(JSON.stringify({ step: "error", status: error.status, code: error.code }));
  }
}

main().catch((error) => {
  console.log(JSON.stringify({ step: "failed", message: String(error) }));
  process.exit(1);
});
