// Every page of the dashboard, in menu order: importing a page module registers it with the router.
// To add a page: write pages/<name>.js (it calls register({...})) and import it here.
import "./today.js";
import "./devices.js";
import "./exceptions.js";
import "./daily.js";
import "./muster.js";
import "./payroll.js";
import "./history.js";
import "./leave.js";
import "./shifts.js";
import "./regularisation.js";

import "./org.js";
import "./staff.js";
import "./import.js";
import "./photos.js";
import "./staff-form.js";
import "./users.js";
import "./audit.js";
import "./device.js";
