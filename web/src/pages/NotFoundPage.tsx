import { Link } from 'react-router';

export function NotFoundPage() {
  return (
    <section aria-labelledby="missing">
      <h1 id="missing">Nothing here</h1>
      <p>
        This address is not a page of the dashboard. <Link to="/">See your jobs</Link>.
      </p>
    </section>
  );
}
