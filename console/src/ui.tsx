// Small building blocks every page uses: loading and error states, labelled fields that show
// the API's per-field errors, pagination, money and dates.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import type { ComponentChildren, InputHTMLAttributes } from "preact";
import { Problem } from "./api";

export function asProblem(e: unknown): Problem {
  return e instanceof Problem ? e : new Problem(0, "Something went wrong", String(e));
}

/** Loads data for a page; `reload` fetches again, `set` replaces it locally. */
export function useResource<T>(load: () => Promise<T>, deps: unknown[]) {
  const [state, setState] = useState<{ data?: T; problem?: Problem; loading: boolean }>({ loading: true });
  const seq = useRef(0);
  const reload = useCallback(async (quiet = false) => {
    const n = ++seq.current;
    if (!quiet) setState((s) => ({ ...s, loading: true }));
    try {
      const data = await load();
      if (n === seq.current) setState({ data, loading: false });
    } catch (e) {
      if (n === seq.current) setState((s) => ({ ...s, problem: asProblem(e), loading: false }));
    }
  }, deps);
  useEffect(() => void reload(), [reload]);
  const set = (data: T) => setState({ data, loading: false });
  return { ...state, reload, set };
}

/** A form's submit: busy while it runs, the problem if it failed. */
export function useSubmit<A extends unknown[]>(action: (...args: A) => Promise<unknown>) {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const run = async (...args: A) => {
    setBusy(true);
    setProblem(null);
    try {
      await action(...args);
      return true;
    } catch (e) {
      setProblem(asProblem(e));
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, problem, setProblem, run };
}

export function onSubmit(run: () => unknown) {
  return (e: Event) => {
    e.preventDefault();
    run();
  };
}

let ids = 0;
function useId(prefix: string) {
  const id = useRef<string | undefined>(undefined);
  id.current ??= `${prefix}-${++ids}`;
  return id.current;
}

type FieldProps = {
  label: string;
  name: string;
  value: string | number;
  onValue: (v: string) => void;
  problem?: Problem | null;
  hint?: string;
  multiline?: boolean;
  rows?: number;
} & Omit<InputHTMLAttributes<HTMLInputElement>, "value" | "name" | "label">;

/** A labelled input; the API's error for `name` is shown under it and announced. */
export function Field({ label, name, value, onValue, problem, hint, multiline, rows, ...rest }: FieldProps) {
  const id = useId(name);
  const error = problem?.field(name);
  const described = [hint && `${id}-hint`, error && `${id}-error`].filter(Boolean).join(" ") || undefined;
  const common = {
    id, name, value, "aria-invalid": error ? true : undefined, "aria-describedby": described,
    onInput: (e: Event) => onValue((e.currentTarget as HTMLInputElement).value),
  };
  return (
    <div class={`field${error ? " invalid" : ""}`}>
      <label for={id}>{label}</label>
      {multiline ? <textarea {...(common as any)} rows={rows ?? 4} {...(rest as any)} /> : <input {...(common as any)} {...(rest as any)} />}
      {hint && <p class="hint" id={`${id}-hint`}>{hint}</p>}
      {error && <p class="field-error" id={`${id}-error`}>{error}</p>}
    </div>
  );
}

export function Select(props: { label: string; name: string; value: string; onValue: (v: string) => void; problem?: Problem | null; children: ComponentChildren }) {
  const id = useId(props.name);
  const error = props.problem?.field(props.name);
  return (
    <div class={`field${error ? " invalid" : ""}`}>
      <label for={id}>{props.label}</label>
      <select id={id} name={props.name} value={props.value} aria-invalid={error ? true : undefined} aria-describedby={error ? `${id}-error` : undefined}
        onChange={(e) => props.onValue((e.currentTarget as HTMLSelectElement).value)}>{props.children}</select>
      {error && <p class="field-error" id={`${id}-error`}>{error}</p>}
    </div>
  );
}

export function Check(props: { label: string; checked: boolean; onChange: (v: boolean) => void; name?: string }) {
  const id = useId(props.name ?? "check");
  return (
    <div class="check">
      <input type="checkbox" id={id} name={props.name} checked={props.checked} onChange={(e) => props.onChange((e.currentTarget as HTMLInputElement).checked)} />
      <label for={id}>{props.label}</label>
    </div>
  );
}

/** The problem's title and detail; field errors that no field on the page shows are listed. */
export function ProblemBanner({ problem, fields = [] }: { problem?: Problem | null; fields?: string[] }) {
  if (!problem) return null;
  const others = problem.errors.filter((e) => !fields.some((f) => e.field === f || e.field.startsWith(f + ".")));
  return (
    <div class="problem" role="alert">
      <strong>{problem.title}</strong>
      {problem.detail && problem.detail !== problem.title && <span>: {problem.detail}</span>}
      {others.length > 0 && <ul>{others.map((e) => <li key={e.field}>{e.field}: {e.message}</li>)}</ul>}
    </div>
  );
}

export function Loading({ what = "Loading" }: { what?: string }) {
  return <p class="muted" role="status" aria-live="polite">{what}…</p>;
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

/** Loading, error and empty states around a list. */
export function Loaded<T>(props: { r: { data?: T; problem?: Problem; loading: boolean }; empty?: (d: T) => boolean; emptyText?: string; children: (d: T) => ComponentChildren }) {
  const { r } = props;
  if (r.data === undefined) return r.problem ? <ProblemBanner problem={r.problem} /> : <Loading />;
  if (props.empty?.(r.data)) return <Empty>{props.emptyText ?? "Nothing here yet."}</Empty>;
  return <>{r.problem && <ProblemBanner problem={r.problem} />}{props.children(r.data)}</>;
}

export function Pager({ page, limit, total, onPage }: { page: number; limit: number; total: number; onPage: (p: number) => void }) {
  const pages = Math.max(1, Math.ceil(total / limit));
  if (pages <= 1) return null;
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" disabled={page <= 1} onClick={() => onPage(page - 1)}>Previous</button>
      <span>Page {page} of {pages}</span>
      <button type="button" disabled={page >= pages} onClick={() => onPage(page + 1)}>Next</button>
    </nav>
  );
}

/** Digits after the decimal point of a currency (2 for EUR, 0 for JPY). */
export function minorDigits(currency: string): number {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    return 2;
  }
}

export function money(minor: number, currency: string): string {
  const value = minor / 10 ** minorDigits(currency);
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(value);
  } catch {
    return `${value.toFixed(minorDigits(currency))} ${currency}`;
  }
}

/** "129.99" in EUR -> 12999; NaN when it is not an amount. */
export function toMinor(text: string, currency: string): number {
  const digits = minorDigits(currency);
  const m = text.trim().replace(",", ".").match(/^(\d+)(?:\.(\d*))?$/);
  if (!m || (m[2] ?? "").length > digits) return NaN;
  return Number(m[1]) * 10 ** digits + Number((m[2] ?? "").padEnd(digits, "0") || 0);
}

export function when(iso?: string | null): string {
  return iso ? new Date(iso).toLocaleString() : "—";
}

export function Badge({ value }: { value: string }) {
  return <span class={`badge badge-${value}`}>{value.replace(/_/g, " ")}</span>;
}

export function PageTitle({ children, actions }: { children: ComponentChildren; actions?: ComponentChildren }) {
  useEffect(() => {
    document.title = `${typeof children === "string" ? children : "Agora"} · Agora`;
  }, [children]);
  return (
    <div class="title-row">
      <h1 id="page-title" tabIndex={-1}>{children}</h1>
      {actions && <div class="actions">{actions}</div>}
    </div>
  );
}

/** Calls `fn` every `ms` while mounted and `active`. */
export function useInterval(fn: () => void, ms: number, active = true) {
  const saved = useRef(fn);
  saved.current = fn;
  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => saved.current(), ms);
    return () => clearInterval(t);
  }, [ms, active]);
}
