export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  if (parts.length === 0) return '?';
  const first = parts[0][0] ?? '';
  const last = parts.length > 1 ? (parts[parts.length - 1][0] ?? '') : '';
  return (first + last).toUpperCase();
}

const HUES = [210, 260, 330, 20, 150, 190, 290, 40];

function hue(seed: string): number {
  let h = 0;
  for (let i = 0; i < seed.length; i++) h = (h * 31 + seed.charCodeAt(i)) | 0;
  return HUES[Math.abs(h) % HUES.length];
}

/** Initials in a coloured circle; the name is given as a tooltip and to assistive tech. */
export function Avatar({ name, id, size = 'md', decorative }: { name: string; id: string; size?: 'sm' | 'md'; decorative?: boolean }) {
  const h = hue(id);
  return (
    <span
      className={`avatar avatar-${size}`}
      style={{ background: `hsl(${h} 55% 30%)` }}
      title={name}
      role={decorative ? undefined : 'img'}
      aria-label={decorative ? undefined : name}
      aria-hidden={decorative ? true : undefined}
    >
      {initials(name)}
    </span>
  );
}
