@failure-mode @scenario-unknown-user
Feature: Unknown user
  The account typed does not exist in the tenant (new hire not created yet); sign-in fails with AADSTS50034.
  Guide section: MFA or sign-in loops

  Scenario: Unknown user: the symptom
    Given the scenario "unknown-user"
    When the user tries to join the PC as the scenario describes
    Then the sign-in page shows AADSTS50034
    When the user restarts the PC and signs in with the Entra account
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : NO"
    And the device is not joined
    And the device is not enrolled in Intune
    And the admin sees error 50034 in the sign-in log
    And portal.office.com sign-in fails with AADSTS50034

  Scenario: Unknown user: the fix repairs it
    Given the scenario "unknown-user"
    When the user tries to join the PC as the scenario describes
    And the admin applies the scenario's fix
    And the user disconnects if needed and joins again
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : YES"
    And the device is joined
    And the device is enrolled in Intune
