package fulfillment

// TaskData exposes the template context builder to the external tests.
var TaskData = taskData
