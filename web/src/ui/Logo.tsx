export function Logo({ size = 28 }: { size?: number }) {
  return (
    <svg width={size} height={size} viewBox="0 0 64 64" aria-hidden="true" focusable="false">
      <rect width="64" height="64" rx="14" fill="#3451b2" />
      <rect x="12" y="14" width="11" height="36" rx="3" fill="#fff" />
      <rect x="26.5" y="14" width="11" height="24" rx="3" fill="#c7d2fe" />
      <rect x="41" y="14" width="11" height="14" rx="3" fill="#a5b4fc" />
    </svg>
  );
}
