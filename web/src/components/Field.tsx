/** A labelled input with its hint and error wired up for assistive technology. */
export function Field(props: {
  id: string;
  label: string;
  hint?: string;
  error?: string;
  optional?: string;
  children: (aria: { id: string; "aria-describedby"?: string; "aria-invalid"?: true }) => React.ReactNode;
}) {
  const described = [props.hint ? `${props.id}-hint` : null, props.error ? `${props.id}-error` : null].filter(Boolean).join(" ");
  return (
    <div className="space-y-1">
      <label htmlFor={props.id} className="block text-sm font-medium">
        {props.label}
        {props.optional && <span className="font-normal text-ink-muted"> ({props.optional})</span>}
      </label>
      {props.hint && (
        <p id={`${props.id}-hint`} className="text-sm text-ink-muted">
          {props.hint}
        </p>
      )}
      {props.children({ id: props.id, "aria-describedby": described || undefined, "aria-invalid": props.error ? true : undefined })}
      {props.error && (
        <p id={`${props.id}-error`} className="text-sm font-medium text-bad">
          {props.error}
        </p>
      )}
    </div>
  );
}
