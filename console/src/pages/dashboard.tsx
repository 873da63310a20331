// The first page after signing in: email statistics as charts, recent orders, unread
// notifications; for administrators the queue's depth and dead letters.
import { get } from "../api";
import { useAuth } from "../auth";
import { BarChart } from "../chart";
import { Link } from "../router";
import type { EmailStats, Notification, Order } from "../types";
import { Badge, Loaded, PageTitle, money, useInterval, useResource, when } from "../ui";
import type { Page } from "../api";

type QueueFigures = { consumer: string; depth: number; dead: number }[];

/** queue_depth and queue_dead_letters per consumer, from the Prometheus text at /metrics. */
async function queueFigures(): Promise<QueueFigures> {
  const text = await get<string>("/metrics");
  const rows = new Map<string, { depth: number; dead: number }>();
  for (const line of text.split("\n")) {
    const m = line.match(/^queue_(depth|dead_letters)\{consumer="([^"]+)"\} (\S+)/);
    if (!m) continue;
    const row = rows.get(m[2]) ?? { depth: 0, dead: 0 };
    row[m[1] === "depth" ? "depth" : "dead"] = Number(m[3]);
    rows.set(m[2], row);
  }
  return [...rows].map(([consumer, r]) => ({ consumer, ...r }));
}

export function Dashboard() {
  const { user } = useAuth();
  const stats = useResource(() => get<EmailStats>("emails/stats"), []);
  const orders = useResource(() => get<Page<Order>>("orders?limit=5"), []);
  const unread = useResource(() => get<Page<Notification>>("notifications?unread=true&limit=5"), []);
  const queue = useResource(() => (user?.role === "admin" ? queueFigures() : Promise.resolve([])), [user?.role]);
  useInterval(() => { stats.reload(true); queue.reload(true); }, 10000);
  const pct = (v?: number | null) => (v === null || v === undefined ? null : v * 100);
  return (
    <section>
      <PageTitle actions={<Link class="button primary" href="/emails/new">Compose</Link>}>Dashboard</PageTitle>
      <h2>Email</h2>
      <Loaded r={stats}>
        {(s) => (
          <>
            <ul class="tiles">
              <li><span class="figure">{s.queued + s.sending + s.retrying}</span> waiting</li>
              <li><span class="figure">{s.sent}</span> sent</li>
              <li><span class="figure">{s.failed}</span> failed</li>
              <li><span class="figure">{pct(s.last_24h.success_rate)?.toFixed(1) ?? "—"}%</span> success, 24 h</li>
            </ul>
            <div class="charts">
              <BarChart title="Sent and failed" groups={["24 h", "7 days"]} bars={[
                { label: "Sent", color: "#1a7f37", values: [s.last_24h.sent, s.last_7d.sent] },
                { label: "Failed", color: "#b42318", values: [s.last_24h.failed, s.last_7d.failed] },
              ]} />
              <BarChart title="Success rate" unit="%" max={100} groups={["24 h", "7 days"]} bars={[
                { label: "Success rate", color: "#0b5cad", values: [pct(s.last_24h.success_rate), pct(s.last_7d.success_rate)] },
              ]} />
              <BarChart title="Delivery latency" unit=" ms" groups={["24 h", "7 days"]} bars={[
                { label: "Average", color: "#6941c6", values: [s.last_24h.avg_latency_ms ?? null, s.last_7d.avg_latency_ms ?? null] },
                { label: "95th percentile", color: "#b54708", values: [s.last_24h.p95_latency_ms ?? null, s.last_7d.p95_latency_ms ?? null] },
              ]} />
            </div>
          </>
        )}
      </Loaded>
      <div class="columns">
        <div>
          <h2>Recent orders</h2>
          <Loaded r={orders} empty={(p) => p.data.length === 0} emptyText="No orders yet.">
            {(p) => <ul class="list">{p.data.map((o) => <li key={o.id}><Link href={`/orders/${o.id}`}>{when(o.created_at)}</Link> <Badge value={o.status} /> {money(o.total, o.currency)}</li>)}</ul>}
          </Loaded>
        </div>
        <div>
          <h2>Unread notifications</h2>
          <Loaded r={unread} empty={(p) => p.data.length === 0} emptyText="Nothing unread.">
            {(p) => <ul class="list">{p.data.map((n) => <li key={n.id}><Link href="/inbox">{n.title}</Link> <span class="muted">{when(n.created_at)}</span></li>)}</ul>}
          </Loaded>
        </div>
      </div>
      {user?.role === "admin" && (
        <>
          <h2>Queue</h2>
          <Loaded r={queue} empty={(q) => q.length === 0} emptyText="Nothing waiting and no dead letters in any queue.">
            {(q) => (
              <table>
                <thead><tr><th scope="col">Consumer</th><th scope="col">Waiting or running</th><th scope="col">Dead letters</th></tr></thead>
                <tbody>{q.map((r) => <tr key={r.consumer}><td>{r.consumer}</td><td>{r.depth}</td><td>{r.dead}</td></tr>)}</tbody>
              </table>
            )}
          </Loaded>
          <p><Link href="/emails/dead-letters">Failed emails (dead letters)</Link></p>
        </>
      )}
    </section>
  );
}
