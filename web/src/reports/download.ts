import { rawFetch } from '../api';

/** Fetches a file with the Authorization header and saves it. */
export async function downloadWithAuth(path: string, filename: string): Promise<void> {
  const res = await rawFetch(path);
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  try {
    const a = document.createElement('a');
    a.href = url;
    a.download = filename;
    a.rel = 'noopener';
    document.body.appendChild(a);
    a.click();
    a.remove();
  } finally {
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }
}
