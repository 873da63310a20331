// Email templates: an editor whose preview renders the draft as you type, with each part's
// error (minijinja's line and message) shown under that part; and the contacts book.
import { useEffect, useState } from "preact/hooks";
import { del, get, post, put, query, Problem } from "../api";
import type { Page } from "../api";
import { useAuth } from "../auth";
import { Link, navigate } from "../router";
import type { Contact, Rendered, Template } from "../types";
import { Field, Loaded, PageTitle, Pager, ProblemBanner, asProblem, onSubmit, useResource, useSubmit, when } from "../ui";
import { variablesOf } from "./emails";

export function Templates() {
  const { user } = useAuth();
  const list = useResource(() => get<Template[]>("email-templates"), []);
  return (
    <section>
      <PageTitle actions={user?.role === "admin" && <Link class="button primary" href="/templates/new">New template</Link>}>Templates</PageTitle>
      {user?.role !== "admin" && <p class="muted">Administrators create and edit templates; everyone may send with them.</p>}
      <Loaded r={list} empty={(l) => l.length === 0} emptyText="No templates yet.">
        {(l) => (
          <table>
            <thead><tr><th scope="col">Name</th><th scope="col">Subject</th><th scope="col">Updated</th></tr></thead>
            <tbody>{l.map((t) => <tr key={t.id}><td><Link href={`/templates/${t.id}`}>{t.name}</Link></td><td>{t.subject}</td><td>{when(t.updated_at)}</td></tr>)}</tbody>
          </table>
        )}
      </Loaded>
    </section>
  );
}

export function TemplateEditor({ id }: { id?: string }) {
  const [draft, setDraft] = useState({ name: "", subject: "", text: "", html: "" });
  const [loaded, setLoaded] = useState(!id);
  const [vars, setVars] = useState<Record<string, string>>({});
  const [preview, setPreview] = useState<Rendered | null>(null);
  const [previewProblem, setPreviewProblem] = useState<Problem | null>(null);
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    if (!id) return;
    get<Template>(`email-templates/${id}`).then((t) => {
      setDraft({ name: t.name, subject: t.subject, text: t.text ?? "", html: t.html ?? "" });
      setLoaded(true);
    }).catch((e) => setPreviewProblem(asProblem(e)));
  }, [id]);
  const names = variablesOf(draft.subject, draft.text, draft.html);
  // The preview follows the draft, a moment after the last keystroke.
  useEffect(() => {
    if (!loaded) return;
    const t = setTimeout(() => {
      post<Rendered>("email-templates/preview", {
        template: { subject: draft.subject, text: draft.text || null, html: draft.html || null },
        variables: Object.fromEntries(names.map((n) => [n, vars[n] || `{${n}}`])),
      }).then((r) => { setPreview(r); setPreviewProblem(null); }).catch((e) => setPreviewProblem(asProblem(e)));
    }, 250);
    return () => clearTimeout(t);
  }, [draft, vars, loaded]);
  const set = (k: keyof typeof draft) => (v: string) => { setDraft({ ...draft, [k]: v }); setSaved(false); };
  const save = useSubmit(async () => {
    const body = { name: draft.name, subject: draft.subject, text: draft.text || null, html: draft.html || null };
    if (id) await put(`email-templates/${id}`, body);
    else navigate(`/templates/${(await post<Template>("email-templates", body)).id}`, true);
    setSaved(true);
  });
  const remove = useSubmit(async () => {
    await del(`email-templates/${id}`);
    navigate("/templates");
  });
  // A part's error: from saving, else from the live preview.
  const problem = save.problem ?? previewProblem;
  return (
    <section>
      <PageTitle>{id ? "Edit template" : "New template"}</PageTitle>
      <div class="editor">
        <form onSubmit={onSubmit(save.run)} noValidate>
          <ProblemBanner problem={save.problem} fields={["name", "subject", "text", "html"]} />
          <Field label="Name" name="name" value={draft.name} onValue={set("name")} problem={save.problem} hint="How sends name it, e.g. order_shipped" />
          <Field label="Subject" name="subject" value={draft.subject} onValue={set("subject")} problem={problem} />
          <Field label="Text" name="text" multiline rows={8} value={draft.text} onValue={set("text")} problem={problem} hint="minijinja: {{ name }}, {% if %}…{% endif %}" />
          <Field label="HTML (optional)" name="html" multiline rows={6} value={draft.html} onValue={set("html")} problem={problem} />
          <div class="actions">
            <button class="primary" disabled={save.busy}>Save</button>
            {id && <button type="button" class="danger" onClick={() => confirm("Delete this template?") && remove.run()}>Delete</button>}
            {saved && <span role="status">Saved.</span>}
          </div>
        </form>
        <aside class="preview" aria-labelledby="preview-title">
          <h2 id="preview-title">Preview</h2>
          {names.length > 0 && (
            <fieldset>
              <legend>Sample values</legend>
              {names.map((n) => <Field key={n} label={n} name={`sample-${n}`} value={vars[n] ?? ""} onValue={(v) => setVars({ ...vars, [n]: v })} />)}
            </fieldset>
          )}
          <div aria-live="polite" data-testid="preview">
            {previewProblem && previewProblem.status !== 422 && <ProblemBanner problem={previewProblem} />}
            {preview && (
              <>
                <p class="preview-subject"><strong>Subject:</strong> {preview.subject}</p>
                {preview.text && <pre class="mail-text">{preview.text}</pre>}
              </>
            )}
          </div>
        </aside>
      </div>
    </section>
  );
}

export function Contacts() {
  const [search, setSearch] = useState("");
  const [applied, setApplied] = useState("");
  const [page, setPage] = useState(1);
  const list = useResource(() => get<Page<Contact>>(`contacts${query({ q: applied, page })}`), [applied, page]);
  const [editing, setEditing] = useState<Contact | null>(null);
  const [form, setForm] = useState({ name: "", email: "" });
  const save = useSubmit(async () => {
    if (editing) await put(`contacts/${editing.id}`, form);
    else await post("contacts", form);
    setForm({ name: "", email: "" });
    setEditing(null);
    list.reload(true);
  });
  return (
    <section>
      <PageTitle>Contacts</PageTitle>
      <form onSubmit={onSubmit(save.run)} noValidate class="inline-form" aria-label={editing ? "Edit contact" : "Add a contact"}>
        <ProblemBanner problem={save.problem} fields={["name", "email"]} />
        <Field label="Name" name="name" value={form.name} onValue={(v) => setForm({ ...form, name: v })} problem={save.problem} />
        <Field label="Email" name="email" type="email" value={form.email} onValue={(v) => setForm({ ...form, email: v })} problem={save.problem} />
        <button class="primary" disabled={save.busy}>{editing ? "Save contact" : "Add contact"}</button>
        {editing && <button type="button" onClick={() => { setEditing(null); setForm({ name: "", email: "" }); }}>Cancel</button>}
      </form>
      <form class="filters" role="search" onSubmit={onSubmit(() => { setPage(1); setApplied(search); })}>
        <Field label="Search contacts" name="contact-search" type="search" value={search} onValue={setSearch} />
        <button>Search</button>
      </form>
      <Loaded r={list} empty={(p) => p.data.length === 0} emptyText="No contacts.">
        {(p) => (
          <>
            <table>
              <thead><tr><th scope="col">Name</th><th scope="col">Email</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
              <tbody>
                {p.data.map((c) => (
                  <tr key={c.id}>
                    <td>{c.name}</td><td>{c.email}</td>
                    <td class="row-actions">
                      <button type="button" onClick={() => { setEditing(c); setForm({ name: c.name, email: c.email }); }}>Edit<span class="sr-only"> {c.name}</span></button>
                      <button type="button" class="danger" onClick={async () => { await del(`contacts/${c.id}`); list.reload(true); }}>Delete<span class="sr-only"> {c.name}</span></button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <Pager {...p.pagination} onPage={setPage} />
          </>
        )}
      </Loaded>
    </section>
  );
}
