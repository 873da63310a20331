// Deployment settings the server writes into the page (`[console]` in the configuration).
export type ConsoleConfig = { tileUrl: string; tileAttribution: string };

export const config: ConsoleConfig = (() => {
  const raw = document.querySelector<HTMLMetaElement>('meta[name="agora-config"]')?.content;
  try {
    return { tileUrl: "", tileAttribution: "", ...JSON.parse(raw ?? "{}") };
  } catch {
    return { tileUrl: "", tileAttribution: "" };
  }
})();
