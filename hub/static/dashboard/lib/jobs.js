// Following a background job of the hub (a ZIP enrolment, a staff-list check): the upload answers
// with a job id at once and the work runs on the hub (hub/api/jobs.py); this polls
// GET /jobs/{id}, handing each poll's new items to the page, until the job is done or failed.
import { api } from "./api.js";

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

/** The finished job; ``onUpdate(job, newItems)`` after every poll (the bar, verdicts as they come). */
export async function followJob(jobId, onUpdate, intervalMs = 400) {
  let since = 0;
  for (;;) {
    const job = await api(`/jobs/${encodeURIComponent(jobId)}?since=${since}`);
    since = job.items_total;
    onUpdate(job, job.items);
    if (job.state !== "running") return job;
    await sleep(intervalMs);
  }
}
