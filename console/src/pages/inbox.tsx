// Notifications: the list, updated live from the server-sent event stream, read and unread,
// and preferences per category and channel with quiet hours.
import { useEffect, useState } from "preact/hooks";
import { API, del, get, post, put, refresh, session } from "../api";
import type { Page } from "../api";
import type { Channel, Notification, Preferences } from "../types";
import { Check, Field, Loaded, PageTitle, Pager, ProblemBanner, onSubmit, useResource, useSubmit, when } from "../ui";

type Listener = (n: Notification | null, unread?: number) => void;
const listeners = new Set<Listener>();
let source: EventSource | null = null;

/** One stream per page, opened while signed in; reopened with a fresh token after errors. */
export function connectStream() {
  source?.close();
  source = null;
  const token = session.token();
  if (!token) return;
  const s = new EventSource(`${API}/notifications/stream?access_token=${encodeURIComponent(token)}`);
  s.addEventListener("unread", (e) => listeners.forEach((l) => l(null, JSON.parse((e as MessageEvent).data).unread)));
  s.addEventListener("notification", (e) => listeners.forEach((l) => l(JSON.parse((e as MessageEvent).data))));
  s.addEventListener("lagged", () => listeners.forEach((l) => l(null)));
  // The browser reconnects by itself after a network error; a refusal (an expired access
  // token) closes the stream, so renew the token; the new session reopens it (app.tsx).
  s.onerror = () => {
    if (s.readyState !== EventSource.CLOSED || source !== s) return;
    setTimeout(async () => {
      if (source === s) await refresh();
    }, 2000);
  };
  source = s;
}

export function useLiveNotifications(listener: Listener) {
  useEffect(() => {
    listeners.add(listener);
    return () => void listeners.delete(listener);
  }, [listener]);
}

/** The unread count for the navigation, kept by the stream. */
export function useUnread() {
  const [unread, setUnread] = useState(0);
  useLiveNotifications((n, count) => {
    if (count !== undefined) setUnread(count);
    else if (n && !n.read) setUnread((u) => u + 1);
  });
  useEffect(() => { get<{ unread: number }>("notifications/unread-count").then((r) => setUnread(r.unread)).catch(() => undefined); }, []);
  return unread;
}

export function Inbox() {
  const [onlyUnread, setOnlyUnread] = useState(false);
  const [page, setPage] = useState(1);
  const list = useResource(() => get<Page<Notification>>(`notifications?limit=20&page=${page}${onlyUnread ? "&unread=true" : ""}`), [onlyUnread, page]);
  const [arrived, setArrived] = useState<Notification[]>([]);
  useLiveNotifications((n) => {
    if (n) setArrived((a) => [n, ...a.filter((x) => x.id !== n.id)]);
    else list.reload(true);
  });
  const shown = [...arrived.filter((a) => page === 1 && !list.data?.data.some((x) => x.id === a.id)), ...(list.data?.data ?? [])];
  const act = useSubmit(async (n: Notification, what: "read" | "delete") => {
    if (what === "read") await post(`notifications/${n.id}/read`);
    else await del(`notifications/${n.id}`);
    setArrived((a) => a.filter((x) => x.id !== n.id));
    await list.reload(true);
  });
  const readAll = useSubmit(async () => { await post("notifications/read-all"); setArrived([]); await list.reload(true); });
  return (
    <section>
      <PageTitle actions={<button type="button" onClick={() => readAll.run()} disabled={readAll.busy}>Mark all read</button>}>Inbox</PageTitle>
      <Check label="Unread only" name="unread" checked={onlyUnread} onChange={(v) => { setOnlyUnread(v); setPage(1); }} />
      <ProblemBanner problem={act.problem ?? readAll.problem} />
      <Loaded r={list} empty={() => shown.length === 0} emptyText="No notifications.">
        {(p) => (
          <>
            <ul class="notifications" aria-live="polite" data-testid="notifications">
              {shown.map((n) => (
                <li key={n.id} class={n.read ? "read" : "unread"}>
                  <div><strong>{n.title}</strong>{!n.read && <span class="badge badge-unread">new</span>}</div>
                  <p>{n.body}</p>
                  <p class="muted">{when(n.created_at)} · {n.category}</p>
                  <div class="actions">
                    {!n.read && <button type="button" onClick={() => act.run(n, "read")}>Mark read<span class="sr-only">: {n.title}</span></button>}
                    <button type="button" class="danger" onClick={() => act.run(n, "delete")}>Delete<span class="sr-only">: {n.title}</span></button>
                  </div>
                </li>
              ))}
            </ul>
            <Pager {...p.pagination} onPage={setPage} />
          </>
        )}
      </Loaded>
    </section>
  );
}

const CHANNELS: Channel[] = ["email", "in_app", "sms", "push"];
const CATEGORIES = ["account", "orders", "catalog", "marketing"];

export function NotificationPreferences() {
  const prefs = useResource(() => get<Preferences>("notification-preferences"), []);
  const [saved, setSaved] = useState(false);
  const save = useSubmit(async (p: Preferences) => {
    prefs.set(await put<Preferences>("notification-preferences", p));
    setSaved(true);
  });
  return (
    <section>
      <PageTitle>Notification preferences</PageTitle>
      <Loaded r={prefs}>
        {(p) => <PreferencesForm initial={p} busy={save.busy} problem={save.problem} saved={saved} onSave={(x) => { setSaved(false); save.run(x); }} />}
      </Loaded>
    </section>
  );
}

function PreferencesForm({ initial, onSave, busy, problem, saved }: { initial: Preferences; onSave: (p: Preferences) => void; busy: boolean; problem: ReturnType<typeof useSubmit>["problem"]; saved: boolean }) {
  const [channels, setChannels] = useState(initial.channels);
  const [quiet, setQuiet] = useState(!!initial.quiet_hours);
  const [hours, setHours] = useState({ start: initial.quiet_hours?.start ?? "22:00", end: initial.quiet_hours?.end ?? "07:00", time_zone: initial.quiet_hours?.time_zone ?? Intl.DateTimeFormat().resolvedOptions().timeZone });
  const on = (cat: string, ch: Channel) => channels[cat]?.[ch] ?? false;
  const toggle = (cat: string, ch: Channel, v: boolean) => setChannels({ ...channels, [cat]: { ...channels[cat], [ch]: v } });
  return (
    <form noValidate onSubmit={onSubmit(() => onSave({ channels, quiet_hours: quiet ? hours : null }))}>
      <ProblemBanner problem={problem} fields={["quiet_hours.start", "quiet_hours.end", "quiet_hours.time_zone"]} />
      <table>
        <caption class="sr-only">Channels per category</caption>
        <thead><tr><th scope="col">Category</th>{CHANNELS.map((c) => <th scope="col" key={c}>{c.replace("_", "-")}</th>)}</tr></thead>
        <tbody>
          {CATEGORIES.map((cat) => (
            <tr key={cat}>
              <th scope="row">{cat}</th>
              {CHANNELS.map((ch) => (
                <td key={ch}>
                  <input type="checkbox" id={`pref-${cat}-${ch}`} aria-label={`${cat} by ${ch.replace("_", "-")}`} checked={on(cat, ch)}
                    onChange={(e) => toggle(cat, ch, (e.currentTarget as HTMLInputElement).checked)} />
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      <Check label="Quiet hours (non-critical notifications wait until they end)" name="quiet" checked={quiet} onChange={setQuiet} />
      {quiet && (
        <div class="inline-form">
          <Field label="From" name="quiet_hours.start" type="time" value={hours.start} onValue={(v) => setHours({ ...hours, start: v })} problem={problem} />
          <Field label="Until" name="quiet_hours.end" type="time" value={hours.end} onValue={(v) => setHours({ ...hours, end: v })} problem={problem} />
          <Field label="Time zone" name="quiet_hours.time_zone" value={hours.time_zone} onValue={(v) => setHours({ ...hours, time_zone: v })} problem={problem} />
        </div>
      )}
      <button class="primary" disabled={busy}>Save preferences</button>
      {saved && <span role="status"> Saved.</span>}
    </form>
  );
}
