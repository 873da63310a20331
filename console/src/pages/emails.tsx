// Emails: the list with its status filter and search, live while any is on its way; one
// email with every delivery attempt; compose with contacts, templates and attachments.
import { useState } from "preact/hooks";
import { get, post, query } from "../api";
import type { Page } from "../api";
import { Link, navigate, useLocation } from "../router";
import type { Contact, Email, EmailStatus, FileInfo, Template } from "../types";
import { Badge, Check, Field, Loaded, PageTitle, Pager, ProblemBanner, Select, onSubmit, useInterval, useResource, useSubmit, when } from "../ui";

const STATUSES: EmailStatus[] = ["queued", "sending", "retrying", "sent", "failed"];
const inFlight = (e: Email) => e.status === "queued" || e.status === "sending" || e.status === "retrying";

function EmailTable({ emails }: { emails: Email[] }) {
  return (
    <table>
      <thead><tr><th scope="col">Subject</th><th scope="col">To</th><th scope="col">Status</th><th scope="col">Created</th></tr></thead>
      <tbody>
        {emails.map((e) => (
          <tr key={e.id} data-email={e.id}>
            <td><Link href={`/emails/${e.id}`}>{e.subject || "(no subject)"}</Link></td>
            <td>{e.recipients.to.join(", ")}</td>
            <td><Badge value={e.status} /></td>
            <td>{when(e.created_at)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Emails() {
  const { query: q } = useLocation();
  const [status, setStatus] = useState(q.get("status") ?? "");
  const [search, setSearch] = useState(q.get("q") ?? "");
  const [applied, setApplied] = useState({ status, search });
  const [page, setPage] = useState(1);
  const list = useResource(() => get<Page<Email>>(`emails${query({ status: applied.status, q: applied.search, page, limit: 20 })}`), [applied, page]);
  // Live status: polled while any email shown is still on its way.
  useInterval(() => list.reload(true), 1500, !!list.data?.data.some(inFlight));
  return (
    <section>
      <PageTitle actions={<Link class="button primary" href="/emails/new">Compose</Link>}>Emails</PageTitle>
      <form class="filters" role="search" onSubmit={onSubmit(() => { setPage(1); setApplied({ status, search }); })}>
        <Select label="Status" name="status" value={status} onValue={setStatus}>
          <option value="">Any</option>
          {STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
        </Select>
        <Field label="Search" name="q" type="search" value={search} onValue={setSearch} placeholder="Subject or address" />
        <button>Filter</button>
      </form>
      <Loaded r={list} empty={(p) => p.data.length === 0} emptyText="No emails match.">
        {(p) => <><EmailTable emails={p.data} /><Pager {...p.pagination} onPage={setPage} /></>}
      </Loaded>
    </section>
  );
}

export function DeadLetters() {
  const [page, setPage] = useState(1);
  const list = useResource(() => get<Page<Email>>(`emails/dead-letters${query({ page })}`), [page]);
  return (
    <section>
      <PageTitle>Failed emails</PageTitle>
      <p>Emails that ran out of attempts. Open one to see why, and retry it.</p>
      <Loaded r={list} empty={(p) => p.data.length === 0} emptyText="No dead letters.">
        {(p) => <><EmailTable emails={p.data} /><Pager {...p.pagination} onPage={setPage} /></>}
      </Loaded>
    </section>
  );
}

export function EmailDetail({ id }: { id: string }) {
  const email = useResource(() => get<Email>(`emails/${id}`), [id]);
  useInterval(() => email.reload(true), 1500, !!email.data && inFlight(email.data));
  const retry = useSubmit(async () => {
    await post(`emails/${id}/retry`);
    await email.reload(true);
  });
  return (
    <section>
      <PageTitle>Email</PageTitle>
      <Loaded r={email}>
        {(e) => (
          <>
            <dl class="facts">
              <dt>Subject</dt><dd>{e.subject}</dd>
              <dt>Status</dt><dd><span role="status" aria-live="polite" data-testid="email-status"><Badge value={e.status} /></span></dd>
              <dt>To</dt><dd>{e.recipients.to.join(", ")}</dd>
              {e.recipients.cc?.length ? <><dt>Cc</dt><dd>{e.recipients.cc.join(", ")}</dd></> : null}
              <dt>Created</dt><dd>{when(e.created_at)}</dd>
              <dt>Sent</dt><dd>{when(e.sent_at)}</dd>
              <dt>Attachments</dt><dd>{e.attachments.length}</dd>
              {e.last_error && <><dt>Last error</dt><dd>{e.last_error}</dd></>}
            </dl>
            {e.status === "failed" && (
              <p><ProblemBanner problem={retry.problem} /><button type="button" class="primary" disabled={retry.busy} onClick={() => retry.run()}>Retry</button></p>
            )}
            <h2>Delivery attempts</h2>
            {e.delivery_attempts?.length ? (
              <table>
                <thead><tr><th scope="col">#</th><th scope="col">Started</th><th scope="col">Outcome</th><th scope="col">Took</th><th scope="col">Server's answer</th></tr></thead>
                <tbody>{e.delivery_attempts.map((a) => <tr key={a.attempt}><td>{a.attempt}</td><td>{when(a.started_at)}</td><td><Badge value={a.outcome} /></td><td>{a.duration_ms} ms</td><td><code>{a.response}</code></td></tr>)}</tbody>
              </table>
            ) : <p class="empty">No attempt yet.</p>}
            <h2>Content</h2>
            {e.text ? <pre class="mail-text">{e.text}</pre> : <p class="muted">No text part.</p>}
          </>
        )}
      </Loaded>
    </section>
  );
}

/** The `{{ name }}` variables a template's parts use, in order of appearance. */
export function variablesOf(...parts: (string | null | undefined)[]): string[] {
  const found = new Set<string>();
  for (const part of parts) for (const m of (part ?? "").matchAll(/\{\{\s*([A-Za-z_][\w]*)/g)) found.add(m[1]);
  return [...found];
}

export function Compose() {
  const contacts = useResource(() => get<Page<Contact>>("contacts?limit=100"), []);
  const templates = useResource(() => get<Template[]>("email-templates"), []);
  const [to, setTo] = useState("");
  const [cc, setCc] = useState("");
  const [picked, setPicked] = useState<string[]>([]);
  const [template, setTemplate] = useState("");
  const [vars, setVars] = useState<Record<string, string>>({});
  const [subject, setSubject] = useState("");
  const [text, setText] = useState("");
  const [files, setFiles] = useState<FileInfo[]>([]);
  const upload = useSubmit(async (input: HTMLInputElement) => {
    for (const file of Array.from(input.files ?? [])) {
      const form = new FormData();
      form.append("file", file);
      const info = await post<FileInfo>("files", form);
      setFiles((f) => [...f, info]);
    }
    input.value = "";
  });
  const chosen = templates.data?.find((t) => t.name === template);
  const names = chosen ? variablesOf(chosen.subject, chosen.text, chosen.html) : [];
  const list = (s: string) => s.split(/[,;\n]/).map((x) => x.trim()).filter(Boolean);
  const send = useSubmit(async () => {
    const body = chosen
      ? { template, variables: Object.fromEntries(names.map((n) => [n, vars[n] ?? ""])) }
      : { subject, text };
    const accepted = await post<{ id: string }>("emails/send", {
      to: list(to), cc: list(cc), contact_ids: picked, attachments: files.map((f) => f.id), ...body,
    }, { headers: { "idempotency-key": sendKey } });
    navigate(`/emails/${accepted.id}`);
  });
  // One key per compose, so a retried click never sends twice.
  const [sendKey] = useState(() => crypto.randomUUID());
  const fields = ["to", "cc", "subject", "text", "template", "variables", "attachments", "contact_ids"];
  return (
    <section>
      <PageTitle>Compose</PageTitle>
      <form onSubmit={onSubmit(send.run)} noValidate class="wide-form">
        <ProblemBanner problem={send.problem} fields={fields} />
        <Field label="To" name="to" value={to} onValue={setTo} problem={send.problem} hint="Addresses separated by commas, e.g. Ada <ada@example.com>" />
        <Field label="Cc" name="cc" value={cc} onValue={setCc} problem={send.problem} />
        <fieldset>
          <legend>Contacts</legend>
          <Loaded r={contacts} empty={(p) => p.data.length === 0} emptyText="No contacts yet.">
            {(p) => p.data.map((c) => (
              <Check key={c.id} name={`contact-${c.id}`} label={`${c.name} <${c.email}>`} checked={picked.includes(c.id)}
                onChange={(on) => setPicked(on ? [...picked, c.id] : picked.filter((x) => x !== c.id))} />
            ))}
          </Loaded>
        </fieldset>
        <Select label="Template" name="template" value={template} onValue={setTemplate} problem={send.problem}>
          <option value="">None: write the message</option>
          {templates.data?.map((t) => <option key={t.id} value={t.name}>{t.name}</option>)}
        </Select>
        {chosen ? (
          <fieldset>
            <legend>Variables of {chosen.name}</legend>
            {names.length === 0 && <p class="muted">This template uses no variables.</p>}
            {names.map((n) => <Field key={n} label={n} name={`variables.${n}`} value={vars[n] ?? ""} onValue={(v) => setVars({ ...vars, [n]: v })} problem={send.problem} />)}
          </fieldset>
        ) : (
          <>
            <Field label="Subject" name="subject" value={subject} onValue={setSubject} problem={send.problem} />
            <Field label="Message" name="text" multiline rows={8} value={text} onValue={setText} problem={send.problem} />
          </>
        )}
        <div class="field">
          <label for="attachment">Attachments</label>
          <input id="attachment" type="file" multiple onChange={(e) => upload.run(e.currentTarget as HTMLInputElement)} />
          <ProblemBanner problem={upload.problem} />
          {upload.busy && <p role="status">Uploading…</p>}
          <ul class="list">{files.map((f) => <li key={f.id}>{f.filename} ({Math.ceil(f.size / 1024)} KiB) <button type="button" onClick={() => setFiles(files.filter((x) => x.id !== f.id))}>Remove</button></li>)}</ul>
          {send.problem?.field("attachments") && <p class="field-error">{send.problem.field("attachments")}</p>}
        </div>
        <button class="primary" disabled={send.busy || upload.busy}>Send</button>
      </form>
    </section>
  );
}

