//! Delivery targets as the account page lists them: what kind of target (its `type`) and where
//! the new secret goes, in words. Only names and places are shown: never a token or key, nor the
//! parts of a URL that may carry one (user info, query, fragment), nor a script's arguments.

/** A URL without what may carry a credential: scheme, host and path only. */
function place(url) {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === "/" ? "" : u.pathname}`;
  } catch {
    return "an unreadable URL";
  }
}

/** ` (SES SMTP password for eu-west-1)` when the target takes a derived value, else "". */
function format(t) {
  const f = t.format;
  if (!f) return "";
  if (f.kind === "ses-smtp") return ` (SES SMTP password for ${f.region})`;
  return ` (${f.kind || "a derived value"})`;
}

function github(t) {
  if (t.repository && t.environment) return `GitHub Actions secrets of ${t.repository}, environment ${t.environment}`;
  if (t.repository) return `GitHub Actions secrets of ${t.repository}`;
  if (t.organization) return `GitHub Actions secrets of organization ${t.organization}`;
  return "GitHub Actions secrets";
}

const DESCRIBE = {
  "aws-credentials-file": (t) => `credentials file ${t.path}, profile ${t.profile}`,
  "secrets-manager": (t) => `Secrets Manager secret ${t.secret_id}`,
  ssm: (t) => `SSM parameter ${t.name}`,
  script: (t) => `script ${t.command}`,
  webhook: (t) => `webhook to ${place(t.url)}${t.include_secret ? " (with the secret)" : ""}`,
  "github-actions": github,
  gitlab: (t) => `GitLab CI/CD variables of ${t.scope || "project"} ${t.path}${t.url ? ` on ${place(t.url)}` : ""}`,
  kubernetes: (t) => `Kubernetes secret ${t.namespace}/${t.name}${t.context ? ` (context ${t.context})` : ""}`,
  manual: () => "entered by an operator, confirmed with `rekey rotation confirm`",
};

/** One delivery target in words: `ssm: SSM parameter /app/key`, …; an unknown type by its name. */
export function targetText(t) {
  if (!t || typeof t !== "object") return String(t);
  const type = t.type || "unknown type";
  const describe = DESCRIBE[type];
  return describe ? `${type}: ${describe(t)}${format(t)}` : type;
}
